"""The suite's reset between tests (tests/dbs.py): every table empty but the seeded defaults,
ids counted from the start again, the counters' triggers working afterwards."""

from __future__ import annotations

from sqlalchemy import func, select, text

from store.enums import Verdict
from store.models import Base, Category, CategoryCount, Contributor, Example, Review
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.factories import example, person


def _rows(db: TestDatabase) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t.name: int(conn.execute(text(f"SELECT count(*) FROM {t.name}")).scalar_one())
            for t in Base.metadata.sorted_tables
        }


def test_reset_empties_every_table_and_restarts_ids(db: TestDatabase) -> None:
    seeded = _rows(db)
    with db.session() as s:
        first_category = s.scalar(select(func.min(Category.id)))
        alice, bob = person(s, "UALICE"), person(s, "UBOB")
        ex = example(s, alice)
        record_review(
            s, example_id=ex.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Quorum(1, 1)
        )
    assert _rows(db) != seeded
    db.reset()
    assert _rows(db) == seeded
    with db.session() as s:
        assert s.scalar(select(func.min(Category.id))) == first_category
        again = person(s, "UCAROL")
        assert again.id == 1
        made = example(s, again)
        assert made.id == 1
        assert s.scalar(select(func.count()).select_from(Review)) == 0
        assert s.scalar(select(func.count()).select_from(Contributor)) == 1
        assert s.scalar(select(func.count()).select_from(Example)) == 1
    with db.session() as s:  # counted when the transaction commits (on PostgreSQL, triggers)
        counted = s.scalar(
            select(func.sum(CategoryCount.n)).where(CategoryCount.status == made.status)
        )
        assert counted == 1, counted
