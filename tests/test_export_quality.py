"""Near-duplicates, citation brackets and personal data, applied by the real store rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporters.run import run_export
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec

EMAIL = "jane.doe@example.com"


def _rows(root: Path) -> list[dict[str, Any]]:
    lines = (root / "dolly" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines]


def _seed(db: TestDatabase) -> list[int]:
    with db.session() as s:
        return insert_items(
            s,
            [
                Item(
                    "open_qa",
                    "U1",
                    instruction="What are the three primary colours used in painting?",
                    response="Red, yellow and blue.[1] Mixing them gives the rest.[2]",
                ),
                Item(
                    "open_qa",
                    "U2",
                    instruction="What are the three primary colours used in painting today?",
                    response="Red, yellow and blue are the traditional ones.",
                ),
                Item(
                    "brainstorming",
                    "U3",
                    instruction="Give me ideas for a team offsite next spring.",
                    response=f"A hike, a cooking class, or write to {EMAIL} for a boat trip.",
                ),
            ],
        )


def test_near_duplicates_go_and_the_earlier_example_stays(db: TestDatabase, tmp_path: Path) -> None:
    ids = _seed(db)
    result = run_export(db.sessions, tmp_path / "a", spec(near_dup_threshold=0.8))
    assert [r["id"] for r in _rows(tmp_path / "a")] == [ids[0], ids[2]]
    assert result.counts.near_duplicates == 1
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["counts"]["removed"]["near_duplicates"] == 1
    off = run_export(db.sessions, tmp_path / "b", spec(near_dup_threshold=None))
    assert off.counts.total == 3 and off.counts.near_duplicates == 0


def test_citations_are_stripped_unless_kept(db: TestDatabase, tmp_path: Path) -> None:
    ids = _seed(db)
    run_export(db.sessions, tmp_path / "a", spec())
    first = next(r for r in _rows(tmp_path / "a") if r["id"] == ids[0])
    assert first["response"] == "Red, yellow and blue. Mixing them gives the rest."
    run_export(db.sessions, tmp_path / "b", spec(strip_citations=False))
    first = next(r for r in _rows(tmp_path / "b") if r["id"] == ids[0])
    assert first["response"].endswith("the rest.[2]")


def test_scrub_pii_masks_personal_data_in_every_format(db: TestDatabase, tmp_path: Path) -> None:
    _seed(db)
    run_export(db.sessions, tmp_path / "plain", spec(formats=("dolly",)))
    assert EMAIL in (tmp_path / "plain" / "dolly" / "train.jsonl").read_text()
    run_export(db.sessions, tmp_path / "s", spec(scrub_pii=True))
    for path in (tmp_path / "s").rglob("*.json*"):
        assert EMAIL not in path.read_text(encoding="utf-8"), path
    idea = next(r for r in _rows(tmp_path / "s") if r["category"] == "brainstorming")
    assert "[EMAIL]" in idea["response"] and idea["response"].startswith("A hike")
