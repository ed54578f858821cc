"""Gaps, stats and the leaderboard, computed in store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.slack.handlers.home import render_home
from store.categories import set_target
from store.enums import ExampleStatus, Verdict
from store.reviews import Quorum, record_review
from store.stats import gaps, largest_gap_category, leaderboard, personal_counts, stats_json
from store.types import utcnow
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
        "awaiting_consent": 0,
        "pending": 0,
        "approved": 1,
        "rejected": 0,
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


# Tables that grow with the corpus (or with people x days): read by key or range, never whole.
GROWING = ("examples", "reviews", "contributor_days", "contributor_counts", "contributors")


def test_app_home_and_leaderboards_read_the_growing_tables_by_index_only(
    db: TestDatabase,
) -> None:
    """Every SELECT that App Home and both leaderboards run is an index search on the tables
    that grow: SQLite's plan, which does not depend on table sizes here (PostgreSQL plans
    a near-empty test table as a scan by cost; bench/scale_bench.py measures it at 1M)."""
    if db.kind != "sqlite":
        pytest.skip("PostgreSQL picks scans for near-empty tables; the bench covers it")
    with db.session() as s:
        a, b = person(s, "UA"), person(s, "UB")
        e1 = example(s, a, status=ExampleStatus.PENDING)
        record_review(s, example_id=e1.id, reviewer=b, verdict=Verdict.APPROVE, quorum=Quorum(1, 1))
    statements: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        with db.session() as s:
            render_home(s, person(s, "UA"))
            leaderboard(s, limit=10)
            leaderboard(s, limit=10, since=utcnow() - timedelta(days=7))
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    selects = [(q, p) for q, p in statements if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) >= 8  # counts, categories, top rows, names, interests, the window
    plans: list[str] = []
    with db.engine.connect() as conn:
        for query, params in selects:
            plans += [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query, params)]
    whole = [p for p in plans if p.startswith("SCAN") and p.split()[1] in GROWING]
    assert whole == [], whole
    # The window's three ranges (migration 0012) need no lookup in the table per row.
    for index in (
        "ix_contributor_days_window",
        "ix_examples_created_author_status",
        "ix_reviews_created_reviewer",
    ):
        assert any(f"USING COVERING INDEX {index}" in p for p in plans), index
