"""A conversation written in the sandbox: the page's payloads drive "Add turn", the redrawn modal
renders with every text kept, errors land on the turn, and the submission is stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox.app import Sandbox
from bot.sandbox.blockkit import Render, blocks_html
from bot.sandbox.people import employees
from bot.sandbox.play import Where
from bot.slack.standin.workspace import OpenView
from bot.slack.views.turns import ADD_TURN_ACTION, TURN_BUTTONS_BLOCK
from store.conversations import turns_of
from store.enums import ExampleKind, TurnRole
from store.models import Example
from tests.dbs import TestDatabase


@pytest.fixture
def box(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.chdir(tmp_path)
    sandbox = Sandbox(Settings(database_url=db.url), employees(2), port=0).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _until(box: Sandbox, done: Callable[[], bool]) -> None:
    version = box.workspace.version
    for _ in range(50):  # woken by each change; the bound only ends a broken test
        if done():
            return
        version = box.workspace.wait_for_change(version, timeout=10)
    raise AssertionError("the sandbox never got there")


def _modal(box: Sandbox, user: str) -> OpenView:
    view = box.workspace.top_modal(user)
    assert view is not None
    return view


def _turn_ids(view: OpenView) -> list[str]:
    return [
        str(b["block_id"])
        for b in view.view["blocks"]
        if str(b.get("block_id", "")).startswith("turn_") and b["block_id"] != TURN_BUTTONS_BLOCK
    ]


def test_a_conversation_is_written_in_the_sandbox(box: Sandbox, db: TestDatabase) -> None:
    ada = employees(1)[0]
    dm = box.workspace.dm_id(ada.id)
    box.player.command(ada.id, dm, "write conversation open_qa")
    _until(box, lambda: box.workspace.top_modal(ada.id) is not None)
    first = _modal(box, ada.id)
    typed = {
        "turn_0/turn_0": ["Where do I find the <b>holiday</b> calendar & <!channel>?"],
        "turn_1/turn_1": ["On the intranet, under People, then Holidays."],
    }
    box.player.click(ada.id, Where(view_id=first.id), TURN_BUTTONS_BLOCK, ADD_TURN_ACTION, typed)
    _until(box, lambda: len(_turn_ids(_modal(box, ada.id))) == 3)
    page = blocks_html(_modal(box, ada.id).view["blocks"], Render())
    # What was typed is back in the boxes, as text (HTML-escaped on the page, never markup).
    assert "&lt;b&gt;holiday&lt;/b&gt; calendar &amp; &lt;!channel&gt;?" in page
    assert "On the intranet, under People, then Holidays." in page
    assert page.count("<select") == 4  # the category and a side per turn
    # A third turn left empty comes back as an error on it.
    box.player.submit(ada.id, _modal(box, ada.id).id, typed)
    assert "empty" in _modal(box, ada.id).errors["turn_2"]
    typed["turn_2/turn_2"] = ["And for the Paris office?"]
    typed["side_2/side_2"] = ["user"]
    view = _modal(box, ada.id)
    box.player.click(ada.id, Where(view_id=view.id), TURN_BUTTONS_BLOCK, ADD_TURN_ACTION, typed)
    _until(box, lambda: len(_turn_ids(_modal(box, ada.id))) == 4)
    typed["turn_3/turn_3"] = ["The Paris calendar is on the same page, second tab."]
    box.player.submit(ada.id, _modal(box, ada.id).id, typed)
    _until(box, lambda: box.workspace.top_modal(ada.id) is None)
    with db.session() as s:
        ex = s.scalars(select(Example)).one()
        assert ex.kind == ExampleKind.CONVERSATION
        turns = turns_of(ex)
        assert [t.role for t in turns] == [TurnRole.USER, TurnRole.ASSISTANT] * 2
        assert turns[0].text == typed["turn_0/turn_0"][0]
