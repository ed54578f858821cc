"""Counters kept by triggers equal a full recount, after every kind of write and under
concurrent writers (threads with their own connections) on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import column, delete, func, insert, select, table, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from migrations import runner
from store.categories import get_category, list_categories, seed_default_categories
from store.counters import live_examples, read_all, recount
from store.db import make_engine, make_session_factory, session_scope
from store.enums import ExampleStatus, Origin, Verdict
from store.errors import DomainError
from store.models import Contributor, Example, Review
from store.reviews import Quorum, record_review, verify_draft
from store.stats import category_counts, leaderboard, personal_counts
from store.types import utcnow
from tests.dbs import TestDatabase, empty_database
from tests.factories import example, person

STATUSES = list(ExampleStatus)
ORIGINS = [Origin.HUMAN, Origin.LLM, Origin.IMPORTED]


def _reference_leaderboard(
    s: Session, since: datetime | None, limit: int
) -> list[tuple[int, int, int, int]]:
    """(id, written, approved, reviews) of the top `limit`, by the old full GROUP BY queries."""
    w = select(Example.author_id, func.count()).where(Example.author_id.is_not(None))
    a = w.where(Example.status == ExampleStatus.APPROVED)
    r = select(Review.reviewer_id, func.count())
    if since is not None:
        w, a = w.where(Example.created_at >= since), a.where(Example.created_at >= since)
        r = r.where(Review.created_at >= since)
    written = dict(s.execute(w.group_by(Example.author_id)).all())
    approved = dict(s.execute(a.group_by(Example.author_id)).all())
    reviews = dict(s.execute(r.group_by(Review.reviewer_id)).all())
    rows = [
        (cid, written.get(cid, 0), approved.get(cid, 0), reviews.get(cid, 0))
        for cid in set(written) | set(reviews)
    ]
    rows.sort(key=lambda t: (-(3 * t[2] + t[1] + t[3]), t[0]))
    return rows[:limit]


def assert_counters_match(s: Session) -> None:
    """Counters, and every reader built on them, agree with counting the rows."""
    assert read_all(s) == recount(s)
    by_cat = Counter(
        {
            (c, ExampleStatus(st).value): n
            for c, st, n in s.execute(
                select(Example.category_id, Example.status, func.count()).group_by(
                    Example.category_id, Example.status
                )
            )
        }
    )
    ids = {c.slug: c.id for c in list_categories(s)}
    for row in category_counts(s):
        for status, n in row.by_status.items():
            assert by_cat[(ids[row.slug], status)] == n, (row.slug, status)
    live = s.scalar(
        select(func.count()).select_from(Example).where(Example.status != ExampleStatus.REJECTED)
    )
    assert live_examples(s) == live
    now = utcnow()
    for since in (None, now - timedelta(days=7), now - timedelta(hours=30), now):
        got = [
            (r.contributor_id, r.written, r.approved, r.reviews)
            for r in leaderboard(s, since=since)
        ]
        assert got == _reference_leaderboard(s, since, 10), since
    for c in s.scalars(select(Contributor)):
        mine = personal_counts(s, c)
        written = s.scalar(select(func.count()).where(Example.author_id == c.id))
        given = s.scalar(select(func.count()).where(Review.reviewer_id == c.id))
        assert (mine.written, mine.reviews) == (written, given)


def test_counters_follow_orm_bulk_raw_cascade_and_savepoint_writes(db: TestDatabase) -> None:
    q = Quorum(1, 1)
    with db.session() as s:
        ann, bob = person(s, "UA", "Ann"), person(s, "UB", "Bob")
        e1 = example(s, ann)
        e2 = example(s, ann, category="brainstorming", response="One, two, and a third idea.")
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        record_review(s, example_id=e1.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=q)
        verify_draft(s, example_id=draft.id, verifier=bob, verdict=Verdict.APPROVE, quorum=q)
        # Read inside the writing transaction: it sees its own changes (staged on PostgreSQL).
        assert_counters_match(s)
        assert personal_counts(s, ann).approved == 1
        cat_id = get_category(s, "open_qa").id
        e2_id = e2.id
    with db.session() as s:  # a bulk Core insert, as imports do
        long_ago = utcnow() - timedelta(days=3)
        s.execute(
            insert(Example),
            [
                {
                    "category_id": cat_id,
                    "instruction": f"Imported question {i}?",
                    "context": "",
                    "response": "An answer.",
                    "status": ExampleStatus.APPROVED,
                    "origin": Origin.IMPORTED,
                    "author_id": ann.id if i % 2 else None,
                    "content_hash": f"{i:064d}",
                    "flags": [],
                    "created_at": long_ago,
                    "updated_at": long_ago,
                }
                for i in range(25)
            ],
        )
    with db.session() as s:  # raw updates and deletes, with a review cascading away
        s.execute(update(Example).where(Example.id == e2_id).values(status=ExampleStatus.REJECTED))
        s.execute(delete(Example).where(Example.id == e1.id))
    with db.session() as s:  # a savepoint rolled back takes its counts with it
        nested = s.begin_nested()
        example(s, bob)
        nested.rollback()
        example(s, bob, category="classification", response="Positive.")
        assert_counters_match(s)
    with db.session() as s:
        assert_counters_match(s)
        assert personal_counts(s, ann).written == 1 + 12  # e2 (rejected) and 12 imported


def _workload(db: TestDatabase, seed: int, people: list[int], cats: list[int], ops: int) -> None:
    rng = random.Random(seed)
    now = utcnow()
    quorum = Quorum(2, 2)
    for _ in range(ops):
        op = rng.random()
        try:
            with db.session() as s:
                if op < 0.35:  # a batch of new examples, some old, some authorless
                    rows = []
                    for _ in range(rng.randint(1, 4)):
                        when = now - timedelta(hours=rng.uniform(0, 24 * 10))
                        rows.append(
                            {
                                "category_id": rng.choice(cats),
                                "instruction": f"Question {rng.random()}?",
                                "context": "",
                                "response": "An answer.",
                                "status": rng.choice(STATUSES),
                                "origin": rng.choice(ORIGINS),
                                "author_id": rng.choice([*people, None]),
                                "content_hash": f"{rng.getrandbits(200):064x}"[:64],
                                "flags": [],
                                "created_at": when,
                                "updated_at": when,
                            }
                        )
                    s.execute(insert(Example), rows)
                elif op < 0.75:  # a review through the store, as Slack clicks do
                    ex_id = s.scalar(
                        select(Example.id)
                        .where(Example.status == ExampleStatus.PENDING)
                        .order_by(func.random())
                        .limit(1)
                    )
                    reviewer = s.get(Contributor, rng.choice(people))
                    if ex_id is not None and reviewer is not None:
                        verdict = rng.choice([Verdict.APPROVE, Verdict.REJECT])
                        record_review(
                            s,
                            example_id=ex_id,
                            reviewer=reviewer,
                            verdict=verdict,
                            quorum=quorum,
                            reason="Not a real task." if verdict == Verdict.REJECT else None,
                        )
                elif op < 0.85:  # an admin moves an example between categories/statuses
                    s.execute(
                        update(Example)
                        .where(Example.id == select(func.max(Example.id)).scalar_subquery())
                        .values(category_id=rng.choice(cats), status=rng.choice(STATUSES))
                    )
                elif op < 0.92:  # a deletion (its reviews cascade)
                    s.execute(
                        delete(Example).where(
                            Example.id == select(func.min(Example.id)).scalar_subquery()
                        )
                    )
                else:  # work that is rolled back
                    ann = s.get(Contributor, rng.choice(people))
                    example(s, ann)
                    s.flush()
                    raise _Abandon()
        except (DomainError, _Abandon):
            pass


class _Abandon(Exception):
    pass


def test_counters_equal_a_recount_after_concurrent_random_writers(db: TestDatabase) -> None:
    with db.session() as s:
        people = [person(s, f"U{i:03d}", f"Person {i}").id for i in range(12)]
        cats = [c.id for c in list_categories(s)]
        for pid in people[:4]:  # some examples to review from the start
            ann = s.get(Contributor, pid)
            for _ in range(3):
                example(s, ann, category="open_qa")
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            _workload(db, seed, people, cats, ops=60)
        except OperationalError as exc:  # a deadlock or lock timeout would land here
            errors.append(exc)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(Example))
        reviews = s.scalar(select(func.count()).select_from(Review))
        assert total and reviews  # the workload did write
        assert_counters_match(s)


def test_moving_created_at_moves_the_day_counter(db: TestDatabase) -> None:
    with db.session() as s:
        ann = person(s, "UA")
        example(s, ann, status=ExampleStatus.APPROVED)
        when = datetime(2026, 1, 2, 23, 59, tzinfo=UTC)
        s.execute(update(Example).values(created_at=when))
        assert_counters_match(s)


# Only the columns this test sets, typed as the model types them: the model has columns
# that later revisions add (examples.kind), which an insert of the model would name.
_examples_at_0008 = table(
    "examples",
    *(
        column(name, Example.__table__.c[name].type)
        for name in (
            "id",
            "category_id",
            "instruction",
            "context",
            "response",
            "status",
            "origin",
            "author_id",
            "content_hash",
            "flags",
            "revision",
            "review_count",
            "created_at",
            "updated_at",
        )
    ),
)


def test_the_migration_counts_what_is_already_stored(db_kind: str, tmp_path: Path) -> None:
    with empty_database(db_kind, tmp_path) as url:
        runner.upgrade(url, "0008")
        engine = make_engine(url)
        try:
            factory = make_session_factory(engine)
            with session_scope(factory) as s:
                seed_default_categories(s)
                ann, bob = person(s, "UA"), person(s, "UB")
                for i, status in enumerate(STATUSES * 3):
                    when = utcnow() - timedelta(days=i)
                    s.execute(
                        insert(_examples_at_0008).values(
                            category_id=get_category(s, "open_qa").id,
                            instruction=f"Question {i}?",
                            context="",
                            response="An answer.",
                            status=status,
                            origin=Origin.HUMAN,
                            author_id=(ann.id, bob.id, None)[i % 3],
                            content_hash=f"{i:064d}",
                            flags=[],
                            revision=1,
                            review_count=0,
                            created_at=when,
                            updated_at=when,
                        )
                    )
                first = s.scalar(select(func.min(Example.id)))
                s.add(Review(example_id=first, reviewer_id=bob.id, verdict=Verdict.APPROVE))
            runner.upgrade(url, "head", engine=engine)
            with session_scope(factory) as s:
                assert recount(s).categories  # something to count
                assert_counters_match(s)
        finally:
            engine.dispose()


def test_a_bulk_fill_that_bypasses_the_triggers_leaves_them_counting(db: TestDatabase) -> None:
    """bench.bulk loads without the triggers and recounts once, as a restore would: the
    counters equal a recount afterwards, and the triggers count the writes that follow."""
    from bench.bulk import fast_fill

    with db.session() as s:
        people = [person(s, f"U{i:03d}").id for i in range(5)]
        cats = [c.id for c in list_categories(s)]
    rng = random.Random(3)
    now = utcnow()
    rows = [
        {
            "category_id": rng.choice(cats),
            "instruction": f"Bulk question {i}?",
            "response": "A bulk answer.",
            "status": rng.choice(STATUSES).value,
            "origin": rng.choice(ORIGINS).value,
            "author_id": rng.choice([*people, None]),
            "created_at": now - timedelta(days=rng.uniform(0, 20)),
        }
        for i in range(300)
    ]
    ids = fast_fill(db.engine, rows[:200])
    ids += fast_fill(
        db.engine,
        rows[200:],
        [
            {"example_id": ids[k], "reviewer_id": people[k % 5], "created_at": now}
            for k in range(0, 200, 3)
        ],
    )
    assert len(ids) == len(set(ids)) == 300
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 67
        assert_counters_match(s)
        ann, bob = s.get_one(Contributor, people[0]), s.get_one(Contributor, people[1])
        written = example(s, bob)
        record_review(
            s, example_id=written.id, reviewer=ann, verdict=Verdict.APPROVE, quorum=Quorum(1, 1)
        )
    with db.session() as s:
        assert_counters_match(s)
