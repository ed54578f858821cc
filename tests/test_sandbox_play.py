"""The sandbox's Slack side without a browser: signed payloads, the app's checks, the page API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.sandbox.app import Sandbox
from bot.sandbox.payloads import AppEndpoint
from bot.sandbox.people import employees
from bot.sandbox.play import Player, PlayError
from bot.sandbox.servers import LocalServer
from tests.dbs import TestDatabase


def _title(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


MODAL = {
    "type": "modal",
    "callback_id": "made_up",
    "notify_on_close": True,
    "title": {"type": "plain_text", "text": "Hi"},
    "blocks": [],
}


@pytest.fixture
def box(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.chdir(tmp_path)  # a PostgreSQL sandbox exports into the working folder
    sandbox = Sandbox(Settings(database_url=db.url), employees(2), port=0).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _page_post(box: Sandbox, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(  # noqa: S310 (the local page)
        box.url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_requests_signed_with_another_secret_are_refused_by_the_app(box: Sandbox) -> None:
    ada = employees(1)[0]
    real: Player = box.player
    forged = AppEndpoint(real.app.url, "not-the-signing-secret")
    with pytest.raises(PlayError, match="HTTP 401"):
        Player(box.workspace, box.double, forged, real.people).command(ada.id, "DX", "help")


def test_a_command_gets_its_ephemeral_reply_in_the_conversation(box: Sandbox) -> None:
    ada = employees(1)[0]
    dm = box.workspace.dm_id(ada.id)
    version = box.workspace.version
    box.player.command(ada.id, dm, "help")
    for _ in range(50):  # woken by each change; the bound only ends a broken test
        if box.workspace.visible_messages(dm, ada.id):
            break
        version = box.workspace.wait_for_change(version, timeout=10)
    reply = box.workspace.visible_messages(dm, ada.id)[-1]
    assert reply.visible_to == ada.id and "/crowdtune write" in reply.text
    assert box.workspace.visible_messages(dm, employees(2)[1].id) == []


def test_closing_a_modal_closes_it_whatever_the_app_answers(box: Sandbox) -> None:
    ada = employees(1)[0]
    opened = box.workspace.open_view(box.workspace.issue_trigger(ada.id), MODAL)
    box.player.close(ada.id, opened.id)  # view_closed goes to the app, which has no listener
    assert box.workspace.top_modal(ada.id) is None


def test_the_page_answers_mistakes_with_one_line(box: Sandbox) -> None:
    status, body = _page_post(box, "/sandbox/command", {"user": "U404", "text": "/crowdtune"})
    assert status == 400 and body == {"error": "pick who you are first"}
    ada = employees(1)[0]
    status, body = _page_post(box, "/sandbox/command", {"user": ada.id, "text": "/giphy cats"})
    assert status == 400 and "not a command" in str(body["error"])
    status, body = _page_post(box, "/sandbox/submit", {"user": ada.id, "view_id": "V404"})
    assert status == 400 and body == {"error": "that view is closed"}


def _app_answering(ack: dict[str, object]) -> Iterator[str]:
    # Not crowdtune: an app that answers every request with `ack`, to see Slack's side.
    def app(environ: Any, start_response: Any) -> list[bytes]:
        body = json.dumps(ack).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    server = LocalServer(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.port}/slack/events"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("ack", "titles"),
    [
        ({"response_action": "push", "view": {**MODAL, "title": _title("Two")}}, ["Hi", "Two"]),
        ({"response_action": "update", "view": {**MODAL, "title": _title("New")}}, ["New"]),
        ({}, []),
    ],
)
def test_submission_answers_push_update_or_close(
    box: Sandbox, ack: dict[str, object], titles: list[str]
) -> None:
    ada = employees(1)[0]
    opened = box.workspace.open_view(box.workspace.issue_trigger(ada.id), MODAL)
    for url in _app_answering(ack):
        player = Player(box.workspace, box.double, AppEndpoint(url, "s"), box.player.people)
        player.submit(ada.id, opened.id, {})
    assert [v.view["title"]["text"] for v in box.workspace.modals.get(ada.id, [])] == titles


def test_a_view_slack_would_refuse_leaves_the_modal_as_it_was(box: Sandbox) -> None:
    ada = employees(1)[0]
    opened = box.workspace.open_view(box.workspace.issue_trigger(ada.id), MODAL)
    too_long = {"response_action": "update", "view": {**MODAL, "title": _title("x" * 25)}}
    for url in _app_answering(too_long):
        player = Player(box.workspace, box.double, AppEndpoint(url, "s"), box.player.people)
        with pytest.raises(PlayError, match="must be less than 25 characters"):
            player.submit(ada.id, opened.id, {})
    assert box.workspace.top_modal(ada.id) is opened
