"""The Slack Web API double refuses what Slack refuses, so tests against it mean something."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.standin.web_api import SPEC_PATH, VALID_APP_TOKEN, VALID_TOKEN, SlackDouble
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def slack(double: SlackDouble) -> WebClient:
    double.reset()
    # No retry handlers: these tests look at the double's raw answers.
    return WebClient(token=VALID_TOKEN, base_url=double.api_url, retry_handlers=[])


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def test_post_message_returns_ts_and_is_recorded(slack: WebClient, double: SlackDouble) -> None:
    resp = slack.chat_postMessage(channel="C1", text="hello")
    assert resp["channel"] == "C1" and resp["ts"]
    call = double.last("chat.postMessage")
    assert call.args["text"] == "hello"
    assert call.headers["authorization"] == f"Bearer {VALID_TOKEN}"


def test_unknown_method_is_refused(slack: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack.api_call("chat.postMesage", json={"channel": "C1", "text": "x"})
    assert _error(exc) == "unknown_method"


def test_missing_required_argument_is_refused(slack: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack.api_call("chat.postEphemeral", json={"channel": "C1", "text": "x"})
    assert _error(exc) == "invalid_arguments"
    assert exc.value.response["missing"] == ["user"]
    with pytest.raises(SlackApiError) as exc:
        slack.api_call("chat.postMessage", json={"channel": "C1"})
    assert _error(exc) == "no_text"
    with pytest.raises(SlackApiError) as exc:
        slack.api_call("users.info", http_verb="GET", params={})
    assert _error(exc) == "user_not_found"


def test_missing_and_wrong_tokens_are_refused(double: SlackDouble) -> None:
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=double.api_url, retry_handlers=[]).auth_test()
    assert _error(exc) == "not_authed"
    with pytest.raises(SlackApiError) as exc:
        WebClient(token="xoxb-wrong", base_url=double.api_url, retry_handlers=[]).auth_test()
    assert _error(exc) == "invalid_auth"


def test_users_info_answers_with_the_time_zone_tests_set(
    slack: WebClient, double: SlackDouble
) -> None:
    double.add_user("U1", tz="Asia/Tokyo", tz_offset=32400)
    user = slack.users_info(user="U1")["user"]
    assert (user["tz"], user["tz_offset"]) == ("Asia/Tokyo", 32400)
    with pytest.raises(SlackApiError) as exc:
        slack.users_info(user="U404")
    assert _error(exc) == "user_not_found"


def test_conversations_open_returns_a_dm_channel(slack: WebClient) -> None:
    assert slack.conversations_open(users="U7")["channel"]["id"] == "DU7"


def test_told_errors_apply_to_matching_calls_only(slack: WebClient, double: SlackDouble) -> None:
    double.fail("conversations.open", "account_inactive", match=lambda a: a.get("users") == "U2")
    assert slack.conversations_open(users="U1")["ok"]
    with pytest.raises(SlackApiError) as exc:
        slack.conversations_open(users="U2")
    assert _error(exc) == "account_inactive"
    double.fail("chat.postMessage", "not_in_channel", times=1)
    with pytest.raises(SlackApiError):
        slack.chat_postMessage(channel="C1", text="x")
    assert slack.chat_postMessage(channel="C1", text="x")["ok"]


def test_throttle_answers_429_with_retry_after(slack: WebClient, double: SlackDouble) -> None:
    double.throttle("chat.postMessage", retry_after=7, times=1)
    with pytest.raises(SlackApiError) as exc:
        slack.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] in ("7", ["7"])
    assert slack.chat_postMessage(channel="C1", text="x")["ok"]


def test_token_bucket_limits_a_method(slack: WebClient, double: SlackDouble) -> None:
    now = [100.0]
    double.rate_limit("chat.postMessage", rate=1.0, burst=2, clock=lambda: now[0])
    assert slack.chat_postMessage(channel="C1", text="1")["ok"]
    assert slack.chat_postMessage(channel="C1", text="2")["ok"]
    with pytest.raises(SlackApiError) as exc:
        slack.chat_postMessage(channel="C1", text="3")
    assert exc.value.response.status_code == 429
    now[0] += 1.0  # one second later one token is back
    assert slack.chat_postMessage(channel="C1", text="3")["ok"]


def _modal(title: str = "Write", blocks: int = 1, meta: str = "") -> dict[str, object]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "private_metadata": meta,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * blocks,
    }


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (_modal(title="A title that is far too long"), "/view/title/text"),
        (_modal(blocks=101), "/view/blocks"),
        (_modal(meta="m" * 3001), "/view/private_metadata"),
        (
            {
                **_modal(),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            },
            "/view/blocks/0/text/text",
        ),
        (
            {
                **_modal(),
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}
                        ],
                    }
                ],
            },
            "/view/blocks/0/button",
        ),
    ],
)
def test_views_beyond_block_kit_limits_are_refused(
    slack: WebClient, view: dict[str, object], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack.views_open(trigger_id="t1", view=view)
    assert _error(exc) == "invalid_arguments"
    messages = exc.value.response["response_metadata"]["messages"]
    assert any(pointer in m for m in messages), messages


def test_views_within_limits_are_accepted(slack: WebClient, double: SlackDouble) -> None:
    resp = slack.views_open(trigger_id="t1", view=_modal(blocks=100, meta="m" * 3000))
    assert resp["view"]["id"].startswith("V")
    view = double.last("views.open").args["view"]
    assert (json.loads(view) if isinstance(view, str) else view)["type"] == "modal"


def test_messages_hold_at_most_50_blocks(slack: WebClient) -> None:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    assert slack.chat_postMessage(channel="C1", text="x", blocks=[block] * 50)["ok"]
    with pytest.raises(SlackApiError) as exc:
        slack.chat_postMessage(channel="C1", text="x", blocks=[block] * 51)
    assert _error(exc) == "invalid_arguments"


def test_files_upload_v2_goes_through_the_double(slack: WebClient, double: SlackDouble) -> None:
    resp = slack.files_upload_v2(channel="C1", content="a,b\n1,2\n", filename="counts.csv")
    assert resp["ok"]
    files = double.last("files.completeUploadExternal").args["files"]
    files = json.loads(files) if isinstance(files, str) else files
    assert double.uploads[files[0]["id"]] == b"a,b\n1,2\n"


def test_apps_connections_open_takes_the_app_token_only(double: SlackDouble) -> None:
    double.reset()
    double.socket_mode_url = lambda: "ws://127.0.0.1:9/link/?ticket=t1&app_id=A0CROWD"
    client = WebClient(base_url=double.api_url, retry_handlers=[])
    opened = client.apps_connections_open(app_token=VALID_APP_TOKEN)
    assert opened["url"] == "ws://127.0.0.1:9/link/?ticket=t1&app_id=A0CROWD"
    assert double.last("apps.connections.open").headers["authorization"] == (
        f"Bearer {VALID_APP_TOKEN}"
    )
    for token, error in [(VALID_TOKEN, "not_allowed_token_type"), ("xapp-1-x", "invalid_auth")]:
        with pytest.raises(SlackApiError) as exc:
            client.apps_connections_open(app_token=token)
        assert _error(exc) == error
    # ... and the app-level token opens nothing else.
    app_client = WebClient(token=VALID_APP_TOKEN, base_url=double.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as exc:
        app_client.chat_postMessage(channel="C1", text="x")
    assert _error(exc) == "not_allowed_token_type"


def test_bundled_spec_is_the_shared_one() -> None:
    # The stand-in ships inside the package (crowdtune sandbox); its spec must not drift.
    shared = SHARED / "specs" / "slack_web_methods.json"
    if not shared.exists():
        pytest.skip("no ../shared/specs here")
    assert json.loads(SPEC_PATH.read_text()) == json.loads(shared.read_text())
