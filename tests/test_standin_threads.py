"""The stand-in answers threads, channel info and permalinks the way Slack does, to the real
slack_sdk client, refusing what Slack refuses (required arguments per the spec, channels the
bot may not read, a bad cursor)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.standin.web_api import BOT_USER_ID, VALID_TOKEN, SlackDouble
from bot.slack.standin.workspace import Workspace


@pytest.fixture
def ws() -> Workspace:
    w = Workspace(bot_user=BOT_USER_ID)
    w.add_channel("C1", "help", members={BOT_USER_ID, "U1"})
    w.add_channel("C2", "random", members={"U1"})
    w.add_channel("C3", "secret", private=True, members={"U1"})
    return w


@pytest.fixture
def client(ws: Workspace) -> Iterator[WebClient]:
    with SlackDouble(workspace=ws) as d:
        yield WebClient(token=VALID_TOKEN, base_url=d.api_url)


def error_of(call: object) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()  # type: ignore[operator]
    return str(caught.value.response["error"])


def test_replies_page_by_cursor_until_has_more_is_false(ws: Workspace, client: WebClient) -> None:
    parent = ws.add_message("C1", "U1", "q")
    replies = [ws.add_message("C1", "U1", f"r{i}", thread_ts=parent.ts) for i in range(6)]
    seen, cursor, calls = [], None, 0
    while True:
        page = client.conversations_replies(channel="C1", ts=parent.ts, limit=4, cursor=cursor)
        calls += 1
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not page["has_more"]:
            break
    assert calls == 2 and seen == ["q"] + [r.text for r in replies]
    first = client.conversations_replies(channel="C1", ts=parent.ts)["messages"][0]
    assert first["thread_ts"] == parent.ts and first["user"] == "U1"
    # A message in no thread comes back alone.
    lone = ws.add_message("C1", "U1", "alone")
    assert [
        m["text"] for m in client.conversations_replies(channel="C1", ts=lone.ts)["messages"]
    ] == ["alone"]


def test_replies_refuse_what_slack_refuses(ws: Workspace, client: WebClient) -> None:
    parent = ws.add_message("C1", "U1", "q")
    assert (
        error_of(lambda: client.api_call("conversations.replies", params={"ts": parent.ts}))
        == "channel_not_found"
    )
    assert (
        error_of(lambda: client.api_call("conversations.replies", params={"channel": "C1"}))
        == "thread_not_found"
    )
    assert (
        error_of(lambda: client.conversations_replies(channel="C1", ts="9.9")) == "thread_not_found"
    )
    assert (
        error_of(lambda: client.conversations_replies(channel="C1", ts=parent.ts, cursor="!!"))
        == "invalid_cursor"
    )
    other = ws.add_message("C2", "U1", "q")
    assert (
        error_of(lambda: client.conversations_replies(channel="C2", ts=other.ts))
        == "not_in_channel"
    )
    hidden = ws.add_message("C3", "U1", "q")
    assert (
        error_of(lambda: client.conversations_replies(channel="C3", ts=hidden.ts))
        == "channel_not_found"
    )


def test_conversations_info_and_permalinks(ws: Workspace, client: WebClient) -> None:
    info = client.conversations_info(channel="C1")["channel"]
    assert (info["is_private"], info["is_member"]) == (False, True)
    assert client.conversations_info(channel="C2")["channel"]["is_member"] is False
    assert error_of(lambda: client.conversations_info(channel="C3")) == "channel_not_found"
    parent = ws.add_message("C1", "U1", "q")
    reply = ws.add_message("C1", "U1", "a", thread_ts=parent.ts)
    link = client.chat_getPermalink(channel="C1", message_ts=reply.ts)["permalink"]
    assert link.endswith(f"?thread_ts={parent.ts}&cid=C1")
    assert (
        error_of(lambda: client.chat_getPermalink(channel="C1", message_ts="9.9"))
        == "message_not_found"
    )
    # Required by Slack's spec: the double refuses a call without it.
    call = lambda: client.api_call("chat.getPermalink", params={"channel": "C1"})  # noqa: E731
    assert error_of(call) == "invalid_arguments"


def test_without_a_workspace_no_channel_exists() -> None:
    with SlackDouble() as d:
        c = WebClient(token=VALID_TOKEN, base_url=d.api_url)
        assert (
            error_of(lambda: c.conversations_replies(channel="C1", ts="1.1")) == "channel_not_found"
        )
