"""`crowdtune import --near-duplicates off|report|skip`: within the file and against the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from store.errors import DomainError
from store.importing import import_file
from store.models import Example
from tests.dbs import TestDatabase

RECORDS = [
    # line 1
    ("What are the main differences between a crocodile and an alligator?", "open_qa"),
    # line 2
    ("Give me a list of five things to pack for a week-long camping trip.", "brainstorming"),
    # line 3: line 1 with case and punctuation changed
    ("what are the MAIN differences between a crocodile and an alligator", "open_qa"),
    # line 4: line 2 reworded
    ("Give me a list of five things I should pack for a week long camping trip!", "brainstorming"),
    # line 5: distinct
    ("Explain how a bill becomes a law in the United States, step by step.", "open_qa"),
]
LATER = [
    # line 1: line 5 of the first file, reordered
    ("Explain step by step how a bill becomes law in the United States.", "open_qa"),
    # line 2: distinct
    ("Why do cats purr, and do big cats like lions purr too?", "open_qa"),
]


def dolly_file(tmp_path: Path, name: str, records: list[tuple[str, str]]) -> Path:
    path = tmp_path / name
    lines = [
        json.dumps(
            {"instruction": ins, "context": "", "response": "A good answer.", "category": cat}
        )
        for ins, cat in records
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cli_db(db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> TestDatabase:
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def instructions(db: TestDatabase) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(Example.instruction)))


def test_report_mode_prints_pairs_with_lines_and_scores_and_imports_all(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dolly_file(tmp_path, "first.jsonl", RECORDS)
    assert main(["import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "5 added" in out
    assert "2 near-duplicate(s) at ROUGE-L F1 >= 0.70 (2 within the file, 0 of stored" in out
    assert "line 3 ~ line 1 (open_qa) 1.00: What are the main differences" in out
    assert "line 4 ~ line 2 (brainstorming) 0.9" in out
    assert "--near-duplicates skip" in out
    assert len(instructions(cli_db)) == 5


def test_skip_mode_leaves_out_duplicates_of_the_file_and_of_the_corpus(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["import", str(dolly_file(tmp_path, "a.jsonl", RECORDS)), "--near-duplicates", "skip"])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 added" in out and "skipped" in out
    assert instructions(cli_db) == {RECORDS[0][0], RECORDS[1][0], RECORDS[4][0]}
    later = dolly_file(tmp_path, "b.jsonl", LATER)
    assert main(["import", str(later), "--near-duplicates", "skip"]) == 0
    out = capsys.readouterr().out
    assert "1 added" in out
    assert "(0 within the file, 1 of stored examples; skipped)" in out
    assert "line 1 ~ example #" in out
    assert RECORDS[4][0][:40] in out
    assert LATER[1][0] in instructions(cli_db) and LATER[0][0] not in instructions(cli_db)


def test_off_mode_does_not_check(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["import", str(dolly_file(tmp_path, "a.jsonl", RECORDS)), "--near-duplicates", "off"])
        == 0
    )
    out = capsys.readouterr().out
    assert "near-duplicate" not in out
    assert len(instructions(cli_db)) == 5


def test_store_level_report_and_bad_mode(db: TestDatabase, tmp_path: Path) -> None:
    path = dolly_file(tmp_path, "a.jsonl", RECORDS)
    with db.session() as s:
        report = import_file(s, path, near_duplicates="skip")
    assert report.added == 3 and report.skipped_near_duplicates == 2
    assert report.by_category == {"open_qa": 2, "brainstorming": 1}
    assert [(d.ref, d.match_ref, d.in_batch) for d in report.near_duplicates] == [
        ("line 3", "line 1", True),
        ("line 4", "line 2", True),
    ]
    with db.session() as s, pytest.raises(DomainError, match="near-duplicate mode"):
        import_file(s, dolly_file(tmp_path, "b.jsonl", LATER), near_duplicates="maybe")
