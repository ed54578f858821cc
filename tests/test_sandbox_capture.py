"""The capture shortcut in the sandbox: a thread typed on the page, the shortcut used on a
reply, the modal filled from the thread, and the consent request in the quoted author's DM."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.sandbox.app import Sandbox
from bot.sandbox.people import GENERAL, employees
from bot.slack.standin.workspace import Message, OpenView, Workspace
from tests.dbs import TestDatabase


@pytest.fixture
def box(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    sandbox = Sandbox(Settings(database_url=db.url), employees(3), port=0).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def page(box: Sandbox, path: str, body: dict[str, Any] | None = None) -> Any:
    """A POST (with `body`) or GET of the sandbox page's API."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 (the local page)
        box.url.rstrip("/") + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310
        return json.loads(resp.read())


def modal_when(ws: Workspace, user: str, callback: str, timeout: float = 20.0) -> OpenView:
    """The person's modal once the app's follow-up has put `callback` there (woken by each
    change of the workspace, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    version = ws.version
    while True:
        top = ws.top_modal(user)
        if top is not None and top.view.get("callback_id") == callback:
            return top
        assert time.monotonic() < deadline, f"no {callback} modal; top is {top}"
        version = ws.wait_for_change(version, 1.0)


def test_a_thread_captured_from_the_page(box: Sandbox) -> None:
    asker, expert, capturer = (p.id for p in employees(3))
    question = "How do I get access to the staging cluster?"
    answer = "Ask in #infra for the *staging* role, then run `kubectl config use staging`."
    page(box, "/sandbox/command", {"user": asker, "channel": GENERAL, "text": question})
    parent = box.workspace.channels[GENERAL].messages[-1]
    page(
        box,
        "/sandbox/command",
        {"user": expert, "channel": GENERAL, "text": answer, "thread_ts": parent.ts},
    )
    reply = box.workspace.channels[GENERAL].messages[-1]
    assert reply.thread_ts == parent.ts
    shown = page(box, f"/sandbox/state?user={capturer}&channel={GENERAL}")["main"]
    assert "Save as training example" in shown and 'class="msg reply"' in shown
    assert page(box, "/sandbox/shortcut", {"user": capturer, "channel": GENERAL, "ts": reply.ts})
    top = modal_when(box.workspace, capturer, "capture_submit")
    boxes = {
        b["block_id"]: b["element"].get("initial_value")
        for b in top.view["blocks"]
        if b["type"] == "input"
    }
    assert boxes["instruction"] == question
    assert boxes["response"] == answer.replace("*staging*", "**staging**")  # Markdown now
    page(box, "/sandbox/submit", {"user": capturer, "view_id": top.id, "typed": {}})
    dm = box.workspace.dm_id(expert)
    request = message_when(box.workspace, dm, "consent_allow")
    assert answer.replace("*staging*", "**staging**") in json.dumps(request.blocks)
    page(
        box,
        "/sandbox/action",
        {
            "user": expert,
            "channel": dm,
            "ts": request.ts,
            "block_id": "consent",
            "action_id": "consent_allow",
            "typed": {},
        },
    )
    done = message_when(box.workspace, dm, "consent_done")
    assert done.ts == request.ts  # the request itself now says it was allowed


def message_when(ws: Workspace, channel: str, marker: str, timeout: float = 20.0) -> Message:
    """The latest message of `channel` whose blocks hold `marker`, once there."""
    deadline = time.monotonic() + timeout
    version = ws.version
    while True:
        chan = ws.channels.get(channel)
        found = [m for m in (chan.messages if chan else []) if marker in json.dumps(m.blocks)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no message with {marker} in {channel}"
        version = ws.wait_for_change(version, 1.0)
