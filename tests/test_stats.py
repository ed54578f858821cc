"""Gaps, stats and the leaderboard, computed in store."""

from __future__ import annotations

from store.categories import set_target
from store.enums import ExampleStatus, Verdict
from store.reviews import Quorum, record_review
from store.stats import gaps, largest_gap_category, leaderboard, personal_counts, stats_json
from tests.dbs import TestDatabase
from tests.factories import example, person


def test_gap_is_target_minus_approved_minus_pending(db: TestDatabase) -> None:
    with db.session() as s:
        for slug in ("open_qa", "closed_qa", "summarization"):
            set_target(s, slug, 5)
        a = person(s, "UA")
        example(s, a, status=ExampleStatus.APPROVED)
        example(s, a, status=ExampleStatus.PENDING)
        example(s, a, status=ExampleStatus.REJECTED)
        example(s, a, status=ExampleStatus.DRAFT)
        g = gaps(s)
        assert g["open_qa"] == 5 - 1 - 1
        assert g["closed_qa"] == 5
        set_target(s, "open_qa", 1)
        assert gaps(s)["open_qa"] == 0  # never negative
        cat = largest_gap_category(s)
        assert cat is not None and cat.target == 1500  # the untouched defaults are furthest


def test_stats_json_shape(db: TestDatabase) -> None:
    with db.session() as s:
        a = person(s, "UA")
        example(
            s,
            a,
            status=ExampleStatus.APPROVED,
            category="brainstorming",
            response="One idea, another idea, and a third idea.",
        )
        doc = stats_json(s)
    assert doc["total"] == 1
    cats = doc["categories"]
    assert isinstance(cats, dict) and len(cats) == 8
    assert cats["brainstorming"] == {
        "draft": 0,
        "pending": 0,
        "approved": 1,
        "rejected": 0,
        "awaiting_consent": 0,
        "target": 1500,
    }
    assert doc["conversations"] == {"total": 0, "turns": 0, "categories": {}}


def test_leaderboard_and_personal_counts(db: TestDatabase) -> None:
    q = Quorum(1, 1)
    with db.session() as s:
        a, b = person(s, "UA", "Alice"), person(s, "UB", "Bob")
        e1, _e2 = example(s, a), example(s, a)
        record_review(s, example_id=e1.id, reviewer=b, verdict=Verdict.APPROVE, quorum=q)
        rows = leaderboard(s)
        assert [r.display_name for r in rows] == ["Alice", "Bob"]
        assert (rows[0].written, rows[0].approved, rows[0].reviews) == (2, 1, 0)
        assert (rows[1].written, rows[1].reviews) == (0, 1)
        mine = personal_counts(s, a)
        assert (mine.written, mine.approved, mine.pending, mine.reviews) == (2, 1, 1, 0)
