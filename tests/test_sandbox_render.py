"""Block Kit and mrkdwn as the sandbox draws them: Slack's formatting, people's text inert."""

from __future__ import annotations

from bot.sandbox.blockkit import Render, blocks_html
from bot.sandbox.mrkdwn import mrkdwn_html
from bot.sandbox.payloads import state_of
from bot.slack.escape import escape_mrkdwn, quote_block


def test_mrkdwn_formatting() -> None:
    out = mrkdwn_html("*bold* _italic_ ~gone~ `a<b` :tada:\n• one\n• two")
    assert "<b>bold</b> <i>italic</i> <s>gone</s> <code>a&lt;b</code> 🎉" in out
    assert "• one<br>• two" in out
    assert mrkdwn_html("> quoted\nafter") == "<blockquote>quoted</blockquote>after"
    assert mrkdwn_html("```x *y*```") == "<pre>x *y*</pre>"
    assert mrkdwn_html("snake_case_name and 2*3*4") == "snake_case_name and 2*3*4"


def test_links_and_mentions_from_the_app() -> None:
    out = mrkdwn_html("<https://example.org/?a=1&amp;b=2|docs> <@U1> <!here>", {"U1": "Ada"})
    assert '<a href="https://example.org/?a=1&amp;b=2"' in out and ">docs</a>" in out
    assert '<span class="mention">@Ada</span>' in out
    assert '<span class="mention broadcast">@here</span>' in out
    assert "javascript" not in mrkdwn_html("<javascript:alert(1)|x>").split("&lt;")[0]


def test_text_people_wrote_arrives_escaped_and_renders_as_typed() -> None:
    typed = "<!channel> <script>alert(1)</script> <https://evil.example|safe> & *not mine*"
    out = mrkdwn_html(quote_block(typed, 3000))
    assert "mention" not in out and "<script>" not in out and "<a " not in out
    assert "&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&amp; <b>not mine</b>" in out  # mrkdwn formatting still applies, as in Slack
    assert mrkdwn_html(escape_mrkdwn("&lt;")) == "&amp;lt;"


def test_input_blocks_show_errors_on_their_field_and_keep_initial_values() -> None:
    blocks = [
        {
            "type": "input",
            "block_id": "response",
            "label": {"type": "plain_text", "text": "Response"},
            "element": {
                "type": "plain_text_input",
                "action_id": "response",
                "multiline": True,
                "initial_value": "<b>hi</b>",
            },
        }
    ]
    out = blocks_html(blocks, Render(errors={"response": "Too short <3"}))
    assert 'class="bk-input-block bk-has-error"' in out
    assert "Too short &lt;3" in out
    assert "&lt;b&gt;hi&lt;/b&gt;</textarea>" in out


def test_buttons_selects_and_state_values() -> None:
    blocks = [
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "ok",
                    "value": '{"id": 1}',
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "static_select",
                    "action_id": "rate",
                    "options": [
                        {"text": {"type": "plain_text", "text": "★"}, "value": "1"},
                        {"text": {"type": "plain_text", "text": "★★"}, "value": "2"},
                    ],
                },
            ],
        }
    ]
    out = blocks_html(blocks)
    assert 'class="bk-button bk-primary"' in out and 'data-value="{&quot;id&quot;: 1}"' in out
    assert 'name="decide/rate"' in out and 'data-dispatch="1"' in out
    state = state_of(blocks, {"decide/rate": ["2"]})
    assert state["values"]["decide"]["rate"]["selected_option"]["value"] == "2"
    assert state_of(blocks, {})["values"]["decide"]["rate"]["selected_option"] is None


def test_header_divider_context_image_and_choices() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Weekly <digest>"}},
        {"type": "divider"},
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "https://x.example/a.png", "alt_text": "a"},
                {"type": "mrkdwn", "text": "by *Ada*"},
            ],
        },
        {
            "type": "image",
            "image_url": "https://x.example/chart.png",
            "alt_text": "chart",
            "title": {"type": "plain_text", "text": "Progress"},
        },
        {
            "type": "input",
            "block_id": "confirm",
            "optional": True,
            "label": {"type": "plain_text", "text": "Confirm"},
            "element": {
                "type": "checkboxes",
                "action_id": "confirm",
                "options": [{"text": {"type": "plain_text", "text": "Yes"}, "value": "yes"}],
            },
        },
        {
            "type": "actions",
            "block_id": "pick",
            "elements": [
                {
                    "type": "radio_buttons",
                    "action_id": "one",
                    "initial_option": {"text": {"type": "plain_text", "text": "B"}, "value": "b"},
                    "options": [
                        {"text": {"type": "plain_text", "text": "A"}, "value": "a"},
                        {"text": {"type": "plain_text", "text": "B"}, "value": "b"},
                    ],
                }
            ],
        },
        {"type": "video"},
    ]
    out = blocks_html(blocks)
    assert '<div class="bk-header">Weekly &lt;digest&gt;</div>' in out
    assert '<hr class="bk-divider">' in out
    assert '<div class="bk-context"><img class="bk-thumb"' in out and "by <b>Ada</b>" in out
    assert 'src="https://x.example/chart.png" alt="chart"' in out and ">Progress</div>" in out
    assert 'type="checkbox" name="confirm/confirm" value="yes"' in out
    # Optional inputs are not required: Slack's client lets them through empty.
    assert "(optional)" in out and '<div class="bk-input-block" data-block-id="confirm">' in out
    assert 'type="radio" name="pick/one" value="b" checked' in out
    assert "[video block]" in out
    state = state_of(blocks, {"confirm/confirm": ["yes"]})
    assert state["values"]["confirm"]["confirm"]["selected_options"][0]["value"] == "yes"
    assert state["values"]["pick"]["one"]["selected_option"]["value"] == "b"
