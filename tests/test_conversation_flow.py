"""A conversation end to end through signed Slack requests: written turn by turn in the modal,
reviewed by two colleagues who see every turn, approved by the quorum, exported by an admin
with `/crowdtune export`; the OpenAI chat, ShareGPT and Parquet files hold every turn, and the
pair formats say they left it out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from bot.slack.standin.web_api import SlackDouble
from store.conversations import Turn
from store.enums import ExampleKind, ExampleStatus, TurnRole
from store.models import Example
from tests.conversation_steps import (
    click,
    open_write,
    replies,
    review,
    submit,
    wait_reply,
    write_turns,
)
from tests.dbs import TestDatabase
from tests.slack_fixtures import all_text, blocks_of, button_value, double
from tests.slack_requests import SlackApp, settings_for

__all__ = ["double"]  # fixture

U, A, S = TurnRole.USER, TurnRole.ASSISTANT, TurnRole.SYSTEM
TURNS = [
    Turn(S, "You answer questions about the office for new starters."),
    Turn(U, "Where can I park my bike? Asking for <!channel> too."),
    Turn(A, "In the courtyard racks behind the main entrance; they are free for staff."),
    Turn(U, "Is there somewhere to shower after cycling in?"),
    Turn(A, "Yes, on the ground floor next to the gym, with lockers you can book."),
]
SHAREGPT_NAMES = {S: "system", U: "human", A: "gpt"}
FORMATS = "openai,sharegpt,parquet,dolly,alpaca"


@pytest.fixture
def flow(db: TestDatabase, double: SlackDouble, tmp_path: Path) -> Iterator[SlackApp]:
    """The app with an admin, a pseudonym salt and an export folder, quorum of two approvals."""
    double.reset()
    settings = settings_for(
        db.url,
        double,
        admin_user_ids="UADMIN",
        export_root=str(tmp_path / "exports"),
        pseudonym_salt="test-salt-0123456789",
    )
    app = SlackApp(db, double, settings)
    try:
        yield app
    finally:
        app.close()


def _rows(folder: Path, fmt: str) -> list[dict[str, Any]]:
    """Every row of one format, train and test together."""
    rows: list[dict[str, Any]] = []
    for path in sorted((folder / fmt).iterdir()):
        if path.name.endswith(".meta.jsonl"):
            continue
        if path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            rows.extend(json.loads(line) for line in lines)
        elif path.suffix == ".json":
            rows.extend(json.loads(path.read_text(encoding="utf-8")))
        elif path.suffix == ".parquet":
            rows.extend(pq.read_table(path).to_pylist())
    return rows


def test_a_conversation_goes_from_the_modal_to_the_chat_exports(
    flow: SlackApp, tmp_path: Path
) -> None:
    # Write: the modal opens on two turns; "Add turn" until there are five (system first).
    view = write_turns(flow, "UALICE", open_write(flow, "UALICE", "write conversation"), TURNS)
    reply = submit(flow, "UALICE", view)
    assert reply.status == 200 and not reply.body.strip(), reply.body
    flow.double.wait_for("chat.postMessage")
    with flow.db.session() as s:
        ex = s.scalars(select(Example)).one()
        example_id = ex.id
        assert ex.kind == ExampleKind.CONVERSATION and ex.status == ExampleStatus.PENDING

    # Review: two colleagues see every turn, escaped, and approve; the writer cannot.
    assert "Nothing is waiting" in all_text(review(flow, "UALICE"))
    for reviewer in ("UBOB", "UCAROL"):
        blocks = review(flow, reviewer)
        shown = all_text(blocks)
        assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
        assert all(t.text.replace("<", "&lt;").replace(">", "&gt;") in shown for t in TURNS)
        after = click(flow, reviewer, "review_approve", button_value(blocks, "review_approve"))
        assert "<!channel>" not in json.dumps(after)
    assert f"#{example_id} is now *approved*" in all_text(blocks_of(after)) + str(after["text"])
    with flow.db.session() as s:
        assert s.get_one(Example, example_id).status == ExampleStatus.APPROVED

    # Export: an admin's /crowdtune export writes every format.
    n = replies(flow.double)
    assert flow.command("UADMIN", f"export --format {FORMATS}").status == 200
    done = wait_reply(flow.double, n + 2)  # "Exporting…", then the summary
    assert "1 example" in str(done.get("text", "")) + all_text(blocks_of(done)), done
    (folder,) = (tmp_path / "exports").iterdir()

    messages = [{"role": t.role.value, "content": t.text} for t in TURNS]
    (chat,) = _rows(folder, "openai")
    assert chat["messages"] == messages
    (share,) = _rows(folder, "sharegpt")
    assert share["conversations"] == [
        {"from": SHAREGPT_NAMES[t.role], "value": t.text} for t in TURNS
    ]
    (table,) = _rows(folder, "parquet")
    assert table["kind"] == "conversation" and table["messages"] == messages
    # Dolly and Alpaca hold single-turn pairs: this conversation is left out, and said so.
    assert _rows(folder, "dolly") == [] and _rows(folder, "alpaca") == []
    dropped = [json.loads(line) for line in (folder / "dropped.jsonl").read_text().splitlines()]
    assert [d["id"] for d in dropped] == [example_id]
    assert "conversation of 5 turns" in dropped[0]["reason"]
