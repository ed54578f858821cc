"""Exports killed midway are cleaned up, and two exports never write one folder at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from exporters.atomic import remove_leftovers, target_lock
from exporters.formats import WRITERS, OutRow
from exporters.formats.jsonl import DollyWriter
from exporters.run import run_export, sweep_interrupted_exports
from store.enums import RunStatus
from store.errors import Conflict
from store.models import Export
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec

ROOT = Path(__file__).resolve().parent.parent


def _exports(db: TestDatabase) -> list[Export]:
    with db.session() as s:
        return list(s.scalars(select(Export).order_by(Export.id)))


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _killed_export(db: TestDatabase, out: Path, tmp_path: Path) -> None:
    """Start an export in a process, wait until it is midway, SIGKILL it."""
    marker = tmp_path / f"midway-{out.name}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.export_probe", db.url, str(out), str(marker)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        # Wait for the child to say it is midway (or to die trying, which fails the test).
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "died")
            threading.Event().wait(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def approved(db: TestDatabase) -> TestDatabase:
    with db.session() as s:
        insert_items(s, [Item("open_qa") for _ in range(6)])
    return db


def test_next_export_cleans_up_after_a_killed_one(approved: TestDatabase, tmp_path: Path) -> None:
    db = approved
    out = tmp_path / "exports" / "week1"
    _killed_export(db, out, tmp_path)
    lock, tmp = _hidden(out.parent)  # the lock file is free: its holder died
    assert lock == ".week1.lock" and tmp.startswith(".week1.tmp-")
    [row] = _exports(db)
    assert row.status == RunStatus.RUNNING and row.heartbeat_at is not None

    result = run_export(db.sessions, out, spec(formats=("dolly",)))
    assert result.counts.total == 6
    assert _hidden(out.parent) == []  # neither the temporary folder nor a lock file
    first, second = _exports(db)
    assert first.status == RunStatus.FAILED and first.finished_at is not None
    assert first.error is not None and first.error.startswith("interrupted")
    assert second.status == RunStatus.SUCCEEDED


def test_the_scheduler_sweep_cleans_up_after_a_killed_export(
    approved: TestDatabase, tmp_path: Path
) -> None:
    db = approved
    out = tmp_path / "exports" / "week2"
    _killed_export(db, out, tmp_path)
    # A live export nearby: its temporary folder must survive the sweep.
    live = tmp_path / "exports" / "live"
    with target_lock(live):
        (live.parent / ".live.tmp-abcd1234").mkdir()
        with db.session() as s:
            s.add(Export(status=RunStatus.RUNNING, out_dir=str(live), spec={}))
        # Not yet stale by its heartbeat: nothing happens to the killed run either.
        assert sweep_interrupted_exports(db.sessions, timedelta(hours=1)) == {
            "failed": 0,
            "removed": 1,  # its folder is not locked: its leftovers go at once
        }
        assert _hidden(out.parent) == [".live.lock", ".live.tmp-abcd1234"]
        report = sweep_interrupted_exports(db.sessions, timedelta(0))
    assert report == {"failed": 2, "removed": 0}
    statuses = {Path(e.out_dir).name: (e.status, e.error) for e in _exports(db)}
    assert statuses["week2"][0] == RunStatus.FAILED
    assert "interrupted" in (statuses["week2"][1] or "")
    assert not out.exists()


class GatedWriter(DollyWriter):
    """Dolly rows that wait at the first row until the test opens the gate."""

    reached = threading.Event()
    gate = threading.Event()

    def write(self, row: OutRow) -> None:
        """Write one row, the first only once the gate opens."""
        if self.rows == 0:
            type(self).reached.set()
            type(self).gate.wait(30)
        super().write(row)


def test_a_second_export_to_the_same_folder_fails_clearly(
    approved: TestDatabase, tmp_path: Path
) -> None:
    db = approved
    out = tmp_path / "ds"
    GatedWriter.reached.clear()
    GatedWriter.gate.clear()
    results: list[object] = []

    def first() -> None:
        results.append(
            run_export(
                db.sessions,
                out,
                spec(formats=("dolly",)),
                writers={**WRITERS, "dolly": GatedWriter},
            )
        )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert GatedWriter.reached.wait(30)
        with pytest.raises(Conflict, match="another export is writing"):
            run_export(db.sessions, out, spec(formats=("dolly",)), overwrite=True)
    finally:
        GatedWriter.gate.set()
        thread.join(30)
    assert len(results) == 1
    # Only the export that wrote the folder has a row, and it succeeded.
    assert [e.status for e in _exports(db)] == [RunStatus.SUCCEEDED]
    assert (out / "manifest.json").exists()


def test_an_overwrite_killed_between_its_renames_gets_the_old_folder_back(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    old = tmp_path / ".ds.old-1234abcd"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    (tmp_path / ".ds.tmp-1234abcd").mkdir()
    with target_lock(out):
        removed = remove_leftovers(out)
    assert [p.name for p in removed] == [".ds.tmp-1234abcd"]
    assert (out / "manifest.json").read_text() == "{}"
    assert _hidden(tmp_path) == []
