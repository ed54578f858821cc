"""A failed export leaves no folder behind and a failed Export row; existing output is safe."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from exporters.formats import WRITERS, OutRow, Writer
from exporters.formats.parquet import ParquetWriter
from exporters.run import run_export
from store.enums import RunStatus
from store.errors import Conflict
from store.models import Export
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec


class DiskFull(OSError):
    """What a writer meets when the disk fills midway."""


class FailingParquet(ParquetWriter):
    """The real Parquet writer, failing on its third row as a full disk would."""

    def write(self, row: OutRow) -> None:
        """Write rows until the third."""
        if self.rows == 2:
            raise DiskFull(28, "No space left on device")
        super().write(row)


def _writers(**override: type[Writer]) -> dict[str, type[Writer]]:
    return {**WRITERS, **override}


def _exports(db: TestDatabase) -> list[Export]:
    with db.session() as s:
        return list(s.scalars(select(Export).order_by(Export.id)))


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_a_crash_midway_leaves_nothing(db: TestDatabase, tmp_path: Path) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa") for _ in range(5)])
    parent = tmp_path / "exports"
    parent.mkdir()
    with pytest.raises(DiskFull):
        run_export(db.sessions, parent / "week1", spec(), writers=_writers(parquet=FailingParquet))
    assert _leftovers(parent) == []
    [row] = _exports(db)
    assert row.status == RunStatus.FAILED and row.finished_at is not None
    assert row.error is not None and "No space left on device" in row.error
    assert row.files == {}


def test_refuses_to_overwrite_unless_asked(db: TestDatabase, tmp_path: Path) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa") for _ in range(3)])
    out = tmp_path / "ds"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(Conflict, match="already exists"):
        run_export(db.sessions, out, spec())
    assert _leftovers(out) == ["mine.txt"]
    result = run_export(db.sessions, out, spec(formats=("dolly",)), overwrite=True)
    assert result.counts.total == 3
    assert _leftovers(out) == ["LICENSE", "README.md", "dolly", "dropped.jsonl", "manifest.json"]
    assert _leftovers(tmp_path) == ["ds"]


def test_failed_overwrite_keeps_the_old_export(db: TestDatabase, tmp_path: Path) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa") for _ in range(4)])
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(formats=("dolly", "parquet")))
    before = (out / "manifest.json").read_text()
    with pytest.raises(DiskFull):
        run_export(
            db.sessions, out, spec(), overwrite=True, writers=_writers(parquet=FailingParquet)
        )
    assert (out / "manifest.json").read_text() == before
    assert _leftovers(tmp_path) == ["ds"]
    assert [e.status for e in _exports(db)] == [RunStatus.SUCCEEDED, RunStatus.FAILED]
