"""Exports that use the report: --min-agreement, --min-rating, and the card's per-origin table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporters.run import run_export
from exporters.spec import ExportSpec, ExportSpecError
from store.enums import ExampleStatus, Origin, Verdict
from store.models import Contributor
from store.report import agreement_by_category
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.export_data import SALT
from tests.factories import example, person

Q = Quorum(2, 2)


def _vote(s, ex_id: int, who: Contributor, approve: bool, rating: int | None = None) -> None:  # type: ignore[no-untyped-def]
    record_review(
        s,
        example_id=ex_id,
        reviewer=who,
        verdict=Verdict.APPROVE if approve else Verdict.REJECT,
        quorum=Q,
        reason=None if approve else "Not useful.",
        rating=rating,
    )


def _fixture(db: TestDatabase) -> None:
    with db.session() as s:
        w, a, b, c = (person(s, u) for u in ("UW", "UA", "UB", "UC"))
        # open_qa: A and B always agree (four approved, two rejected): alpha 1.
        ratings = [(5, 5), (4, 3), (4, 4), (None, None)]
        for i in range(6):
            ex = example(s, w, category="open_qa")
            ra, rb = ratings[i] if i < 4 else (None, None)
            _vote(s, ex.id, a, i < 4, ra)
            _vote(s, ex.id, b, i < 4, rb)
        for _ in range(2):
            example(
                s, None, category="open_qa", origin=Origin.IMPORTED, status=ExampleStatus.APPROVED
            )
        # brainstorming: A and B always split, C settles it: all approved, alpha below 0.
        for i in range(6):
            ex = example(s, w, category="brainstorming")
            _vote(s, ex.id, a, i % 2 == 0)
            _vote(s, ex.id, b, i % 2 == 1)
            _vote(s, ex.id, c, True, 4 if i == 0 else None)


def _export(db: TestDatabase, out: Path, **spec: object) -> tuple[list[dict[str, object]], str]:
    run_export(
        db.sessions,
        out,
        ExportSpec(salt=SALT, formats=("dolly",), test_size=0, near_dup_threshold=None, **spec),  # type: ignore[arg-type]
    )
    rows = [json.loads(line) for line in (out / "dolly" / "train.jsonl").read_text().splitlines()]
    return rows, (out / "README.md").read_text()


def test_min_agreement_keeps_the_categories_whose_reviewers_agree(
    db: TestDatabase, tmp_path: Path
) -> None:
    _fixture(db)
    with db.session() as s:
        alphas = {a.category: a.verdicts.value for a in agreement_by_category(s)}
    assert alphas["open_qa"] == 1.0 and (alphas["brainstorming"] or 0) < 0
    rows, card = _export(db, tmp_path / "agree", min_agreement=0.667)
    assert {r["category"] for r in rows} == {"open_qa"}
    assert sorted(str(r["origin"]) for r in rows) == ["human"] * 4 + ["imported"] * 2
    assert "Krippendorff's alpha >= 0.667 on verdicts" in card
    # The per-origin table of what this export holds: 4 human rows, 3 of them rated
    # (5+5, 4+3, 4+4: mean 25/6), and 2 imported rows nobody rated.
    assert "| origin | rows | share | rated rows | mean rating (1–5) |" in card
    assert "| human | 4 | 66.7% | 3 | 4.17 |" in card
    assert "| imported | 2 | 33.3% | 0 | – |" in card
    manifest = json.loads((tmp_path / "agree" / "manifest.json").read_text())
    assert manifest["spec"]["min_agreement"] == 0.667


def test_min_rating_keeps_well_rated_examples_only(db: TestDatabase, tmp_path: Path) -> None:
    _fixture(db)
    rows, card = _export(db, tmp_path / "rated", min_rating=4)
    # open_qa means 5 and 4 pass, 3.5 does not; brainstorming's one rating of 4 passes.
    assert sorted(str(r["category"]) for r in rows) == ["brainstorming", "open_qa", "open_qa"]
    assert "only examples rated 4 or more on average" in card
    assert "| human | 3 | 100.0% | 3 | 4.40 |" in card  # (5+5+4+4+4) / 5


def test_bad_filter_values_say_what_to_change() -> None:
    with pytest.raises(ExportSpecError, match="min-agreement"):
        ExportSpec(salt=SALT, min_agreement=2)
    with pytest.raises(ExportSpecError, match="min-rating"):
        ExportSpec(salt=SALT, min_rating=0)
