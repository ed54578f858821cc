"""ShareGPT (JSON lines or one JSON array) and OpenAI chat JSONL files import as conversations:
every turn kept in order, all records or none with line numbers, idempotent re-imports, the
dataset's name and licence on every row; and our own exports import back."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli import main
from exporters.run import run_export
from store.conversations import turns_of
from store.enums import ExampleKind, ExampleStatus, Origin, TurnRole
from store.importing import ImportFailed, detect_format, import_file
from store.models import Example, ExampleTurn
from tests.conftest import FIXTURES
from tests.dbs import TestDatabase
from tests.export_data import insert_conversation, spec

SHAREGPT = FIXTURES / "sharegpt_small.jsonl"
OPENAI = FIXTURES / "openai_chat_small.jsonl"
ROLE_OF = {"human": "user", "gpt": "assistant", "system": "system"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _stored(db: TestDatabase, source: str) -> list[Example]:
    with db.session() as s:
        rows = list(s.scalars(select(Example).where(Example.source == source).order_by(Example.id)))
        for row in rows:
            _ = row.turns, row.category.slug  # loaded before the session closes
        s.expunge_all()
        return rows


def _counts(db: TestDatabase) -> tuple[int, int]:
    with db.session() as s:
        examples = s.scalar(select(func.count()).select_from(Example)) or 0
        turns = s.scalar(select(func.count()).select_from(ExampleTurn)) or 0
        return examples, turns


@pytest.fixture
def cli_db(db: TestDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestDatabase:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def test_sharegpt_lines_import_as_conversations_with_every_turn(
    cli_db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["import", str(SHAREGPT), "--source", "team-chats", "--licence", "cc-by-4.0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sharegpt format, 5 records read, 5 added, 0 already present" in out
    assert "5 conversations (19 turns)" in out
    records = _lines(SHAREGPT)
    stored = _stored(cli_db, SHAREGPT.name)
    assert len(stored) == len(records) == 5
    for row, rec in zip(stored, records, strict=True):
        assert row.kind == ExampleKind.CONVERSATION
        assert (row.status, row.origin) == (ExampleStatus.APPROVED, Origin.IMPORTED)
        assert (row.source_name, row.licence) == ("team-chats", "cc-by-4.0")
        assert [(t.role.value, t.text) for t in turns_of(row)] == [
            (ROLE_OF[t["from"]], t["value"]) for t in rec["conversations"]
        ]
        # The sides, as submit_example stores them, so dedup and PII see every turn.
        users = [t["value"] for t in rec["conversations"] if t["from"] == "human"]
        assert row.instruction == "\n\n".join(users) and row.context == ""
    assert [r.source_ref for r in stored] == [f"line {n}" for n in range(1, 6)]
    # No category in the file: the first user turn's wording chooses.
    assert stored[4].category.slug == "classification"
    assert stored[2].category.slug == "general_qa"


def test_one_conversation_is_counted_in_the_singular(
    cli_db: TestDatabase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(_lines(SHAREGPT)[0]) + "\n", encoding="utf-8")
    turns = len(_lines(SHAREGPT)[0]["conversations"])
    assert main(["import", str(one)]) == 0
    out = capsys.readouterr().out
    assert "sharegpt format, 1 record read, 1 added" in out
    assert f"  1 conversation ({turns} turns)" in out
    assert "1 conversations" not in out


def test_openai_chat_lines_import_with_their_system_turn_and_text_parts(
    db: TestDatabase,
) -> None:
    assert detect_format(OPENAI) == "openai" and detect_format(SHAREGPT) == "sharegpt"
    with db.session() as s:
        report = import_file(s, OPENAI, category="general_qa")
    assert (report.format, report.added, report.conversations, report.turns) == (
        "openai",
        4,
        4,
        13,
    )
    stored = _stored(db, OPENAI.name)
    assert {r.category.slug for r in stored} == {"general_qa"}
    assert [t.role for t in turns_of(stored[1])] == [
        TurnRole.SYSTEM,
        TurnRole.USER,
        TurnRole.ASSISTANT,
    ]
    parts = _lines(OPENAI)[2]["messages"][0]["content"]
    assert turns_of(stored[2])[0].text == parts[0]["text"]


def test_a_re_import_adds_nothing_and_keeps_the_turns(db: TestDatabase) -> None:
    with db.session() as s:
        import_file(s, SHAREGPT)
    before = _counts(db)
    with db.session() as s:
        again = import_file(s, SHAREGPT)
    assert (again.added, again.already_present, again.conversations) == (0, 5, 0)
    assert _counts(db) == before == (5, 19)


BAD_LINES = [
    {"conversations": [{"from": "human", "value": "Hi there, what is 2 + 2?"}]},
    {
        "conversations": [
            {"from": "human", "value": "Look up the weather in Paris."},
            {"from": "gpt", "value": "Calling the weather tool now."},
            {"from": "tool", "value": '{"temp": 18}'},
        ]
    },
    {
        "conversations": [
            {"from": "human", "value": "Name a prime number below ten."},
            {"from": "human", "value": "And one above ten?"},
            {"from": "gpt", "value": "Seven; and eleven."},
        ]
    },
    {"conversations": "human: hi"},
]


def test_bad_records_fail_the_whole_file_naming_each_line(db: TestDatabase, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = SHAREGPT.read_text(encoding="utf-8").splitlines()[:2]
    bad = [json.dumps(b) for b in BAD_LINES]
    path.write_text("\n".join([good[0], *bad, "{not json", good[1]]) + "\n", encoding="utf-8")
    with db.session() as s, pytest.raises(ImportFailed) as failed:
        import_file(s, path)
    messages = [str(e) for e in failed.value.errors]
    assert messages == [
        "line 2: turns: A conversation needs at least a user turn and an assistant reply.",
        "line 3: turn 3: from 'tool' is not one of system, human, user, gpt, assistant, "
        "chatgpt (an example keeps system, user and assistant turns only)",
        "line 4: turn 2: Two user turns in a row: merge them or change a side.",
        "line 5: missing field 'conversations' (a list of turns)",
        "line 6: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]
    assert _counts(db) == (0, 0)


def test_a_sharegpt_json_array_imports_and_names_bad_items(
    db: TestDatabase, tmp_path: Path
) -> None:
    items = _lines(SHAREGPT)
    array = tmp_path / "sharegpt.json"
    array.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")
    assert detect_format(array) == "sharegpt"
    with db.session() as s:
        report = import_file(s, array)
    assert (report.added, report.turns) == (5, 19)
    assert [r.source_ref for r in _stored(db, array.name)] == [f"item {n}" for n in range(1, 6)]

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([items[0], BAD_LINES[0], "text"]), encoding="utf-8")
    with db.session() as s, pytest.raises(ImportFailed) as failed:
        import_file(s, broken, fmt="sharegpt")
    assert [str(e) for e in failed.value.errors] == [
        "item 2: turns: A conversation needs at least a user turn and an assistant reply.",
        "item 3: must be a JSON object",
    ]
    with db.session() as s, pytest.raises(ImportFailed, match="one JSON object per line"):
        import_file(s, array, fmt="openai")
    assert _counts(db) == (5, 19)


def test_our_own_sharegpt_and_openai_exports_import_back_turn_for_turn(
    db: TestDatabase, tmp_path: Path
) -> None:
    turns = [
        (TurnRole.SYSTEM, "You help people with the office coffee machine."),
        (TurnRole.USER, "The machine shows error E4. What does it mean?"),
        (TurnRole.ASSISTANT, "E4 means the water tank is empty or not seated properly."),
        (TurnRole.USER, "I filled it and it still says E4."),
        (
            TurnRole.ASSISTANT,
            "Take the tank out, check the valve at its base, and push it in firmly.",
        ),
    ]
    with db.session() as s:
        original = insert_conversation(s, "open_qa", "C1", turns)
    run_export(db.sessions, tmp_path / "ds", spec(formats=("sharegpt", "openai")))
    share = shutil.copy(tmp_path / "ds" / "sharegpt" / "train.jsonl", tmp_path / "share.jsonl")
    chat = shutil.copy(tmp_path / "ds" / "openai" / "train.jsonl", tmp_path / "chat.jsonl")
    with db.session() as s:
        import_file(s, Path(share), near_duplicates="off")
        import_file(s, Path(chat), near_duplicates="off")
    (back_share,), (back_chat,) = _stored(db, "share.jsonl"), _stored(db, "chat.jsonl")
    with db.session() as s:
        source = s.get(Example, original)
        assert source is not None
        want = turns_of(source)
    assert turns_of(back_share) == turns_of(back_chat) == want
    # The ShareGPT line names its category; the OpenAI line has only messages.
    assert back_share.category.slug == "open_qa"
    assert back_share.content_hash == back_chat.content_hash


def test_a_sharegpt_system_field_becomes_the_system_turn(db: TestDatabase, tmp_path: Path) -> None:
    # LLaMA-Factory's sharegpt layout keeps the system prompt in a `system` column.
    record = _lines(SHAREGPT)[0]
    path = tmp_path / "with-system.jsonl"
    path.write_text(json.dumps({**record, "system": "Answer as a Python tutor."}) + "\n")
    with db.session() as s:
        import_file(s, path)
    (stored,) = _stored(db, path.name)
    first = turns_of(stored)[0]
    assert (first.role, first.text) == (TurnRole.SYSTEM, "Answer as a Python tutor.")
    assert len(turns_of(stored)) == len(record["conversations"]) + 1

    both = tmp_path / "both.jsonl"
    doubled = {"system": "One.", "conversations": _lines(SHAREGPT)[1]["conversations"]}
    both.write_text(json.dumps(doubled) + "\n")
    with db.session() as s, pytest.raises(ImportFailed, match="line 1: both a `system` field"):
        import_file(s, both)


def test_a_gzipped_openai_chat_file_is_detected_and_imported(
    db: TestDatabase, tmp_path: Path
) -> None:
    packed = tmp_path / "chats.jsonl.gz"
    with gzip.open(packed, "wb") as out:
        out.write(b"\xef\xbb\xbf\n" + OPENAI.read_bytes())  # a BOM and a blank first line
    assert detect_format(packed) == "openai"
    with db.session() as s:
        report = import_file(s, packed)
    assert (report.format, report.conversations, report.turns) == ("openai", 4, 13)
    assert [r.source_ref for r in _stored(db, packed.name)] == [f"line {n}" for n in range(2, 6)]
