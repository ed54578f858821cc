"""The stand-in with a workspace keeps what people see and refuses what Slack's state refuses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.standin.web_api import BOT_USER_ID, VALID_TOKEN, SlackDouble
from bot.slack.standin.workspace import (
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    TRIGGER_TTL,
    Workspace,
)

MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ws(clock: Clock) -> Workspace:
    return Workspace(bot_user=BOT_USER_ID, channels={"C1": "general"}, clock=clock)


@pytest.fixture
def double(ws: Workspace) -> Iterator[SlackDouble]:
    with SlackDouble(workspace=ws) as d:
        yield d


@pytest.fixture
def client(double: SlackDouble) -> WebClient:
    return WebClient(token=VALID_TOKEN, base_url=double.api_url, retry_handlers=[])


def _error(call: object) -> str:
    with pytest.raises(SlackApiError) as exc:
        call()  # type: ignore[operator]
    return str(exc.value.response["error"])


def test_trigger_ids_are_single_use_and_expire(
    client: WebClient, ws: Workspace, clock: Clock
) -> None:
    assert _error(lambda: client.views_open(trigger_id="made-up", view=MODAL)) == (
        "invalid_trigger_id"
    )
    trigger = ws.issue_trigger("U1")
    opened = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert ws.top_modal("U1") is not None and ws.top_modal("U1").id == opened["id"]  # type: ignore[union-attr]
    assert _error(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == (
        "exchanged_trigger_id"
    )
    late = ws.issue_trigger("U1")
    clock.now += TRIGGER_TTL + 0.1
    assert _error(lambda: client.views_open(trigger_id=late, view=MODAL)) == "expired_trigger_id"


def test_views_update_needs_an_open_view_and_its_current_hash(
    client: WebClient, ws: Workspace
) -> None:
    opened = client.views_open(trigger_id=ws.issue_trigger("U1"), view=MODAL)["view"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL)["view"]
    assert updated["hash"] != opened["hash"]
    stale = lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL)  # noqa: E731
    assert _error(stale) == "hash_conflict"
    assert _error(lambda: client.views_update(view_id="V404", view=MODAL)) == "not_found"


def test_a_fourth_pushed_view_is_refused(client: WebClient, ws: Workspace) -> None:
    client.views_open(trigger_id=ws.issue_trigger("U1"), view=MODAL)
    client.views_push(trigger_id=ws.issue_trigger("U1"), view=MODAL)
    client.views_push(trigger_id=ws.issue_trigger("U1"), view=MODAL)
    fourth = lambda: client.views_push(trigger_id=ws.issue_trigger("U1"), view=MODAL)  # noqa: E731
    assert _error(fourth) == "push_limit_reached"
    assert len(ws.modals["U1"]) == 3


def test_messages_land_where_people_see_them(client: WebClient, ws: Workspace) -> None:
    resp = client.chat_postMessage(channel="U1", text="hello")
    assert resp["channel"] == "DU1"
    client.chat_postEphemeral(channel="C1", user="U2", text="only for U2")
    assert [m.text for m in ws.visible_messages("C1", "U2")] == ["only for U2"]
    assert ws.visible_messages("C1", "U1") == []
    client.chat_update(channel="DU1", ts=resp["ts"], text="hello again")
    assert ws.visible_messages("DU1", "U1")[0].text == "hello again"
    assert _error(lambda: client.chat_postMessage(channel="C404", text="x")) == (
        "channel_not_found"
    )


def _post(url: str, payload: dict[str, object]) -> int:
    req = urllib.request.Request(  # noqa: S310 (the local stand-in)
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (local)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_response_urls_replace_the_clicked_message_five_times_in_30_minutes(
    client: WebClient, double: SlackDouble, ws: Workspace, clock: Clock
) -> None:
    ts = client.chat_postMessage(channel="U1", text="pick one")["ts"]
    ws.issue_response_url("r1", "U1", "DU1", ts)
    assert _post(double.response_url("r1"), {"text": "done", "replace_original": True}) == 200
    assert [m.text for m in ws.visible_messages("DU1", "U1")] == ["done"]
    for _ in range(RESPONSE_URL_USES - 1):
        assert _post(double.response_url("r1"), {"text": "more"}) == 200
    assert _post(double.response_url("r1"), {"text": "too many"}) == 404
    ws.issue_response_url("r2", "U1", "DU1", None)
    clock.now += RESPONSE_URL_TTL + 1
    assert _post(double.response_url("r2"), {"text": "late"}) == 404
    assert _post(double.response_url("never-issued"), {"text": "x"}) == 404


def test_uploaded_files_are_shared_in_the_channel(client: WebClient, ws: Workspace) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    client.files_upload_v2(channel="C1", file=png, filename="chart.png", initial_comment="Chart")
    msg = ws.visible_messages("C1", "U1")[-1]
    assert msg.text == "Chart"
    assert ws.files[msg.files[0]].data == png


def test_submission_acks_are_applied_as_slack_does(client: WebClient, ws: Workspace) -> None:
    first = client.views_open(trigger_id=ws.issue_trigger("U1"), view=MODAL)["view"]["id"]
    ws.after_submission("U1", first, {"response_action": "errors", "errors": {"b": "Fix me"}})
    assert ws.modals["U1"][0].errors == {"b": "Fix me"}
    pushed = {**MODAL, "title": {"type": "plain_text", "text": "Two"}}
    ws.after_submission("U1", first, {"response_action": "push", "view": pushed})
    assert [v.view["title"]["text"] for v in ws.modals["U1"]] == ["Hi", "Two"]
    ws.after_submission("U1", ws.modals["U1"][1].id, None)  # plain ack: that view closes
    assert len(ws.modals["U1"]) == 1
    ws.after_submission("U1", first, {"response_action": "update", "view": pushed})
    assert ws.modals["U1"][0].view["title"]["text"] == "Two" and not ws.modals["U1"][0].errors
    ws.after_submission("U1", first, {"response_action": "clear"})
    assert ws.top_modal("U1") is None
