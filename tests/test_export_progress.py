"""Export progress: the exporter reports its near-duplicate and write passes to a ProgressFn,
which the CLI draws as bars on a terminal for exports of a few thousand rows or more."""

from __future__ import annotations

import io
from pathlib import Path

from bot.commands.export import EXPORT_PROGRESS_MIN_ROWS, export_to
from bot.config import Settings
from bot.progress import PhaseBars
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec


def test_export_reports_each_pass_to_the_progress_bars(db: TestDatabase, tmp_path: Path) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa", f"U{k % 7}") for k in range(60)])
    stream = io.StringIO()
    bars = PhaseBars("export ds", stream=stream, force=True)
    settings = Settings(database_url=db.url)  # type: ignore[call-arg]
    result = export_to(
        settings, tmp_path / "ds", spec(formats=("dolly",), near_dup_threshold=0.9), progress=bars
    )
    bars.close()
    assert result.counts.total == 60
    text = stream.getvalue()
    assert "export ds: near-duplicates: 100%" in text and "export ds: writing: 100%" in text
    assert "60/60" in text


def test_small_exports_draw_no_bar() -> None:
    stream = io.StringIO()
    bars = PhaseBars("export ds", stream=stream, force=True, min_total=EXPORT_PROGRESS_MIN_ROWS)
    bars("writing", 0, 500)
    bars("writing", 500, 500)
    assert stream.getvalue() == ""
    bars("writing", 0, EXPORT_PROGRESS_MIN_ROWS)
    assert "writing" in stream.getvalue()
    bars.close()
