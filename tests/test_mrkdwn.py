"""Slack mrkdwn as the plain text / Markdown a captured example keeps."""

from __future__ import annotations

from bot.slack.mrkdwn import PERSON, anonymised, mentioned, to_markdown

NAMES = {"U1": "Ann Lee", "U2": "Bo"}


def name_of(uid: str) -> str | None:
    return NAMES.get(uid)


def test_mentions_become_display_names_or_person() -> None:
    assert to_markdown("ask <@U1> or <@U2|bo>", name_of) == "ask @Ann Lee or @Bo"
    assert to_markdown("ask <@U1>", name_of, anonymise=True) == f"ask {PERSON}"
    # Someone Slack does not know (a deleted user): never an id in the example.
    assert to_markdown("ping <@U999>", name_of) == f"ping {PERSON}"
    assert mentioned("<@U1> <@U2|x> <@U1> <#C1>") == ["U1", "U2"]


def test_broadcasts_channels_and_groups_become_inert_text() -> None:
    text = "<!channel> <!here> <!everyone> in <#C1|general> for <!subteam^S1|@oncall>"
    assert to_markdown(text, name_of) == "@channel @here @everyone in #general for @oncall"


def test_links_become_markdown_and_entities_are_decoded() -> None:
    assert to_markdown("see <https://x.io/a?b=1&amp;c=2|the doc>", name_of) == (
        "see [the doc](https://x.io/a?b=1&c=2)"
    )
    assert to_markdown("<https://x.io>", name_of) == "https://x.io"
    assert to_markdown("<mailto:a@b.io|a@b.io>", name_of) == "a@b.io"
    assert to_markdown("1 &lt; 2 &amp;&amp; 3 &gt; 2; &amp;lt; stays", name_of) == (
        "1 < 2 && 3 > 2; &lt; stays"
    )


def test_emphasis_becomes_markdown_and_code_is_kept() -> None:
    assert to_markdown("*bold* _it_ ~gone~ snake_case_name 2*3*4", name_of) == (
        "**bold** *it* ~~gone~~ snake_case_name 2*3*4"
    )
    assert to_markdown("run `a_b_c *x*` and\n```\n<@U1> *y*\n```", name_of) == (
        "run `a_b_c *x*` and\n```\n<@U1> *y*\n```"
    )


def test_anonymised_replaces_names_already_in_the_text() -> None:
    text = "@Ann Lee said Ann Lee's fix works; Bob agrees, Bo too."
    assert anonymised(text, ["Ann Lee", "Bo"]) == (
        f"{PERSON} said {PERSON}'s fix works; Bob agrees, {PERSON} too."
    )
