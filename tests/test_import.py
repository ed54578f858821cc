"""`crowdtune import`: Dolly and Alpaca layouts, line-numbered errors, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from store.models import Example
from tests.conftest import FIXTURES
from tests.dbs import TestDatabase

DOLLY = FIXTURES / "dolly_small.jsonl"
ALPACA = FIXTURES / "alpaca_small.json"


@pytest.fixture
def cli_db(db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> TestDatabase:
    """The test database, named in DATABASE_URL the way a user sets it."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def count(db: TestDatabase) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Example)) or 0)


def test_dolly_import_counts_per_category_and_is_idempotent(
    cli_db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(DOLLY)]) == 0
    assert count(cli_db) == 16
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 16
    assert all(c["approved"] == 2 for c in doc["categories"].values())
    assert main(["import", str(DOLLY)]) == 0
    assert "0 added, 16 already present" in capsys.readouterr().out
    assert count(cli_db) == 16


def test_alpaca_import_infers_categories(cli_db: TestDatabase) -> None:
    assert main(["import", str(ALPACA), "--status", "pending"]) == 0
    with cli_db.session() as s:
        rows = {
            e.instruction: (e.category.slug, e.context, e.status.value)
            for e in s.scalars(select(Example))
        }
    assert rows["Summarize the following text."][0] == "summarization"
    assert rows["Classify the sentiment of the sentence."][0] == "classification"
    assert rows["Write a short poem about autumn leaves."][0] == "creative_writing"
    assert rows["What is the capital of Australia?"][0] == "open_qa"
    assert rows["Summarize the following text."][1].startswith("The library")
    assert {v[2] for v in rows.values()} == {"pending"}


def test_alpaca_with_named_category(cli_db: TestDatabase) -> None:
    assert main(["import", str(ALPACA), "--category", "general_qa"]) == 0
    with cli_db.session() as s:
        assert {e.category.slug for e in s.scalars(select(Example))} == {"general_qa"}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _good_lines(n: int = 3) -> list[bytes]:
    return DOLLY.read_bytes().splitlines(keepends=True)[:n]


BAD_INPUTS = {
    "truncated": (
        b"".join(_good_lines(2)) + b'{"instruction": "Half a line", "respo\n',
        "line 3: not valid JSON",
    ),
    "missing_instruction": (
        b"".join(_good_lines(1)) + b'{"context": "", "response": "x", "category": "open_qa"}\n',
        "line 2: missing field 'instruction'",
    ),
    "wrong_type": (
        b'{"instruction": 42, "context": "", "response": "x", "category": "open_qa"}\n',
        "line 1: field 'instruction' must be a string, got int",
    ),
    "unknown_category": (
        b"".join(_good_lines(3))
        + b'{"instruction": "Tell a joke", "response": "No.", "category": "jokes"}\n',
        "line 4: unknown category 'jokes'",
    ),
    "empty": (b"", "line 1: the file is empty"),
    "not_utf8": (
        b"".join(_good_lines(1)) + '{"instruction": "caf\u00e9"}\n'.encode("latin-1"),
        "line 2: not UTF-8",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_the_line_and_writes_nothing(
    case: str, cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, expected = BAD_INPUTS[case]
    path = _write(tmp_path, f"{case}.jsonl", data)
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert "nothing was imported" in err
    assert count(cli_db) == 0


def test_bad_alpaca_item_is_reported_by_position(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = json.loads(ALPACA.read_text())
    items.insert(2, {"instruction": "No output here", "input": ""})
    path = _write(tmp_path, "alpaca_bad.json", json.dumps(items).encode())
    assert main(["import", str(path)]) == 2
    assert "item 3: missing field 'output'" in capsys.readouterr().err
    assert count(cli_db) == 0


def test_missing_file_is_a_clear_error(
    cli_db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "/nonexistent/file.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err
