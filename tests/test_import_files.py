"""`crowdtune import` on files as people have them: gzip, a directory by mistake; progress
bars per phase on a terminal; no near-duplicate line when there are none."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.progress import PhaseBars
from store.importing import import_file
from store.models import Example
from store.quality import pairs_worker
from tests.conftest import FIXTURES
from tests.dbs import TestDatabase

DOLLY = FIXTURES / "dolly_small.jsonl"
ALPACA = FIXTURES / "alpaca_small.json"


@pytest.fixture
def cli_db(db: TestDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TestDatabase:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def count(db: TestDatabase) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Example)) or 0)


def gzipped(src: Path, dest: Path) -> Path:
    with src.open("rb") as fin, gzip.open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dest


def test_gzipped_dolly_and_alpaca_import_like_the_plain_files(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(gzipped(DOLLY, tmp_path / "dolly.jsonl.gz"))]) == 0
    out = capsys.readouterr().out
    assert "dolly format, 16 records read, 16 added" in out
    assert main(["import", str(gzipped(ALPACA, tmp_path / "alpaca.json.gz"))]) == 0
    assert "alpaca format" in capsys.readouterr().out
    with cli_db.session() as s:
        sources = set(s.scalars(select(Example.source)))
    assert sources == {"dolly.jsonl.gz", "alpaca.json.gz"}
    assert count(cli_db) == 16 + len(json.loads(ALPACA.read_text()))


def test_a_truncated_gzip_is_one_message_and_nothing_imported(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = gzipped(DOLLY, tmp_path / "whole.jsonl.gz").read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    assert main(["import", str(cut)]) == 2
    assert "damaged or truncated gzip file" in capsys.readouterr().err
    assert count(cli_db) == 0


def test_a_directory_says_it_is_a_directory(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    assert main(["import", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'data'} is a directory" in err and "Traceback" not in err


def test_no_near_duplicate_line_when_there_are_none(
    cli_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "distinct.jsonl"
    rows = [
        ("What are the main differences between a crocodile and an alligator?", "open_qa"),
        ("Give me a list of five things to pack for a week-long camping trip.", "brainstorming"),
    ]
    path.write_text(
        "".join(
            json.dumps({"instruction": i, "response": "A good answer.", "category": c}) + "\n"
            for i, c in rows
        )
    )
    assert main(["import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 added" in out and "near-duplicate" not in out


@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "scan-worker"])
def test_each_slow_phase_gets_its_own_bar(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: bool
) -> None:
    """Also when the file's own pairs are found in a second process beside the insert."""
    monkeypatch.setattr(pairs_worker, "usable_cores", lambda: 2 if worker else 1)
    monkeypatch.setattr(pairs_worker, "MIN_FILE_BYTES", 0)
    path = tmp_path / "dups.jsonl"
    records = [
        {"instruction": f"Tell me about topic {n} of the list", "response": "An answer."}
        for n in range(300)
    ]
    path.write_text("".join(json.dumps({**r, "category": "open_qa"}) + "\n" for r in records))
    stream = io.StringIO()
    bars = PhaseBars("dups.jsonl", stream=stream, force=True)
    with db.session() as s:
        report = import_file(s, path, progress=bars)
    bars.close()
    assert report.added == 300 and report.near_duplicates
    text = stream.getvalue()
    for phase in ("reading", "checking", "near-duplicates", "writing"):
        # Each phase ends at 100% of its own total, with its own rate.
        assert f"dups.jsonl: {phase}: 100%" in text and "300/300" in text, (phase, text)
    assert text.count("rows/s") >= 4
    # One bar a phase: no second, empty bar when a step and its caller both tell the end.
    assert "300/300 [00:00<?, ? rows/s]" not in text, text


def test_bars_stay_off_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    bars = PhaseBars("x", stream=stream)
    bars("reading", 0, 10)
    bars("reading", 10, 10)
    assert stream.getvalue() == ""
