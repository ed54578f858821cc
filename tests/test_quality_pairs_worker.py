"""The import's scan worker (`store/quality/pairs_worker.py`): a real second process whose
pairs give the same report as the in-process scan, and an import that survives its failure."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import store.quality as quality
from store.importing import import_file
from store.models import Example
from store.quality import pairs_worker
from store.quality.batch import BatchItem, scan_batch
from store.quality.dedup import DedupIndex
from store.quality.pair_join import BatchPairs
from store.quality.pairs_worker import PairsWorker, ScanWorkerFailed
from tests.dbs import TestDatabase


def _texts(seed: int, n: int) -> list[str]:
    """Variants of a few base texts: dense groups of near-duplicates, and some strangers."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(40)] + ["the", "a", "of"] * 10 + ["ünïcode", "ß"]
    base = [" ".join(rng.choices(vocab, k=rng.randint(1, 40))) for _ in range(40)]
    out = []
    for _ in range(n):
        words = rng.choice(base).split()
        for _ in range(rng.randint(0, 4)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        out.append(" ".join(words))
    return [*out, "", "...", "unseen words only here"]


@pytest.mark.parametrize("stored", [0, 80])
def test_worker_pairs_give_the_in_process_report(stored: int) -> None:
    texts = _texts(stored, 300)
    items = [BatchItem(f"line {n}", t, "open_qa") for n, t in enumerate(texts, start=1)]
    index = DedupIndex()
    # Other variants of the same base texts (the generator draws the bases first).
    more = _texts(stored, 300 + stored)[300 : 300 + stored]
    index.add_many((i, t, "c") for i, t in enumerate(more, start=1))
    expected = scan_batch(index, items)
    seen: list[tuple[int, int]] = []
    with PairsWorker() as worker:
        worker.submit([item.text for item in items], 0.7)
        got = scan_batch(
            index, items, within=lambda: worker.result(lambda d, t: seen.append((d, t)))
        )
    assert got == expected
    assert sum(d.in_batch for d in expected) > 50  # the batch holds near-duplicates
    assert stored == 0 or any(not d.in_batch for d in expected)  # and stored matches
    assert seen and seen[-1] == (len(items), len(items))  # progress reached the end


def test_worker_error_is_raised_with_its_message() -> None:
    with PairsWorker() as worker:
        worker.submit(["a b c", "a b c"], "not a threshold")  # type: ignore[arg-type]
        with pytest.raises(ScanWorkerFailed, match=r"the near-duplicate scan failed: \w+Error"):
            worker.result()


def test_worker_that_crashes_says_why_without_a_traceback_on_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A worker that crashes (here: on start) fails with its error's last line in the
    message; its traceback does not reach the person's terminal."""
    monkeypatch.setattr(pairs_worker, "_COMMAND", ("-c", "raise RuntimeError('no numpy here')"))
    with PairsWorker() as worker:
        worker.submit(["a b c"], 0.7)
        with pytest.raises(ScanWorkerFailed, match=r"exit 1\): RuntimeError: no numpy here"):
            worker.result()
    assert "Traceback" not in capfd.readouterr().err


def test_worker_yields_the_cpu_to_the_importer() -> None:
    """The scan runs at a lower priority than the insert beside it (os.nice)."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with PairsWorker() as worker:
        deadline = time.monotonic() + 30
        while (theirs := os.getpriority(os.PRIO_PROCESS, worker._process.pid)) == mine:
            assert time.monotonic() < deadline, "the worker never lowered its priority"
            time.sleep(0.01)
    assert theirs == min(mine + pairs_worker._NICENESS, 19)


def test_unused_worker_ends_when_closed() -> None:
    """An import that fails validation never submits: closing stops the process at once."""
    started = time.monotonic()
    worker = PairsWorker()
    worker.close()
    assert worker._process.returncode is not None
    assert time.monotonic() - started < 10


def test_worker_loads_neither_the_database_layer_nor_the_whole_package() -> None:
    code = (
        "import sys, store.quality.pairs_worker, store.quality.token_stream\n"
        "print(sorted(m for m in ('sqlalchemy', 'store.quality.dedup', 'store.models')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # The package's names still resolve, each from its module.
    assert sorted(quality.__all__) == sorted(quality._HOME_OF)
    assert quality.DedupIndex is DedupIndex


def _dolly(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "big.jsonl"
    rows = [
        {
            "instruction": t or "empty",
            "context": "",
            "response": "An answer.",
            "category": "open_qa",
        }
        for t in texts
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _report(db: TestDatabase, path: Path) -> list[tuple[str, float, str]]:
    with db.session() as s:
        report = import_file(s, path)
        s.rollback()  # each run imports into the same empty store
    return [(d.ref, d.score, d.match_ref) for d in report.near_duplicates]


def _alone_then_with_worker(
    db: TestDatabase, path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, float, str]]:
    """The report of importing `path` without a worker; later imports get one."""
    monkeypatch.setattr(pairs_worker, "usable_cores", lambda: 1)
    alone = _report(db, path)
    monkeypatch.setattr(pairs_worker, "usable_cores", lambda: 2)
    monkeypatch.setattr(pairs_worker, "MIN_FILE_BYTES", 0)
    return alone


def _count_answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of pairs of each answer a worker gives its import."""
    answered: list[int] = []
    result = PairsWorker.result

    def counted(self: PairsWorker, progress: Any = None) -> BatchPairs:
        pairs = result(self, progress)
        answered.append(len(self.submitted or []))
        return pairs

    monkeypatch.setattr(PairsWorker, "result", counted)
    return answered


def test_import_uses_the_worker_and_reports_what_the_importer_finds_alone(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _dolly(tmp_path, _texts(3, 400))
    alone = _alone_then_with_worker(db, path, monkeypatch)
    answered = _count_answers(monkeypatch)
    assert _report(db, path) == alone
    assert answered == [403] and len(alone) > 100
    with db.session() as s:  # the worker wrote nothing; the importer's rows were rolled back
        assert s.scalar(select(func.count()).select_from(Example)) == 0


class _FullDisk(io.BytesIO):
    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def _killed(worker: PairsWorker) -> None:  # e.g. the kernel's OOM killer, mid-import
    worker._process.kill()
    worker._process.wait()


def _no_room(worker: PairsWorker) -> None:  # the texts' temporary file finds a full disk
    worker._batch.close()
    worker._batch = _FullDisk()  # type: ignore[assignment]


@pytest.mark.parametrize("break_it", [_killed, _no_room], ids=["killed", "no-room-for-texts"])
def test_import_whose_worker_failed_finds_the_pairs_itself(
    db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    break_it: Callable[[PairsWorker], None],
) -> None:
    path = _dolly(tmp_path, _texts(4, 200))
    alone = _alone_then_with_worker(db, path, monkeypatch)
    start = PairsWorker.__init__

    def broken(self: PairsWorker) -> None:
        start(self)
        break_it(self)

    monkeypatch.setattr(PairsWorker, "__init__", broken)
    with caplog.at_level(logging.WARNING, logger="store.importing"):
        assert _report(db, path) == alone
    assert "scanning in this process instead" in caplog.text


def test_reimport_with_rows_already_present_does_not_use_the_worker_answer(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker starts on every record; when some are already stored (a file imported
    again after growing), its pairs are of other rows, and the importer scans alone."""
    texts = _texts(5, 300)
    first = _dolly(tmp_path, texts[:150])
    monkeypatch.setattr(pairs_worker, "MIN_FILE_BYTES", 0)
    monkeypatch.setattr(pairs_worker, "usable_cores", lambda: 1)
    with db.session() as s:
        import_file(s, first)
        s.commit()
    path = _dolly(tmp_path, texts)  # same name: lines 1-150 are present
    alone = _report(db, path)
    monkeypatch.setattr(pairs_worker, "usable_cores", lambda: 2)
    answered = _count_answers(monkeypatch)
    assert _report(db, path) == alone
    assert answered == [] and any(not m.startswith("line") for _, _, m in alone)


def test_cli_commits_the_rows_while_the_worker_still_scans(
    db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`crowdtune import` commits once the rows are written: the commit overlaps the scan,
    and the report (printed after) is the same."""
    from bot.cli import main

    path = _dolly(tmp_path, _texts(6, 300))
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setattr(pairs_worker, "usable_cores", lambda: 2)
    monkeypatch.setattr(pairs_worker, "MIN_FILE_BYTES", 0)
    stored_when_asked: list[int | None] = []
    result = PairsWorker.result

    def asked(self: PairsWorker, progress: Any = None) -> BatchPairs:
        with db.session() as other:  # another connection sees only committed rows
            stored_when_asked.append(other.scalar(select(func.count()).select_from(Example)))
        return result(self, progress)

    monkeypatch.setattr(PairsWorker, "result", asked)
    assert main(["import", str(path)]) == 0
    out = capsys.readouterr().out
    assert stored_when_asked == [303]
    assert "303 added" in out and "near-duplicate(s) at ROUGE-L F1 >= 0.70" in out
