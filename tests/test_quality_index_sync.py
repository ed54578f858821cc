"""DedupIndex against the database: built at start, caught up by sync from other writers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, update

from store.enums import ExampleStatus, Origin
from store.examples import PairText, revise_example
from store.models import Example
from store.quality.dedup import DedupIndex, prompt_text
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.factories import example, person

CAMPING = "Give me a list of five things to pack for a week-long camping trip."
ROME = "What are the best things to see in Rome if I only have one afternoon?"
PASSAGE = "Alligators live in the south-eastern United States and in China."


def test_from_session_indexes_prompts_of_non_rejected_examples(db: TestDatabase) -> None:
    with db.session() as s:
        ann = person(s, "U1")
        a = example(s, ann, instruction=CAMPING).id
        b = example(s, ann, instruction=ROME, status=ExampleStatus.REJECTED).id
        c = example(
            s,
            ann,
            category="closed_qa",
            instruction="Where do alligators live?",
            context=PASSAGE,
            response="In the south-east of the US and in China.",
        ).id
    with db.session() as s:
        index = DedupIndex.from_session(s)
    assert len(index) == 2 and a in index and c in index and b not in index
    hit = index.nearest(CAMPING.upper())[0]
    assert (hit.example_id, hit.category_slug, hit.score) == (a, "open_qa", 1.0)
    # Context categories are compared on instruction + context.
    assert index.nearest("Where do alligators live?") == []
    closed = index.nearest(prompt_text("Where do alligators live?", PASSAGE))[0]
    assert closed.example_id == c and closed.category_slug == "closed_qa"


def test_sync_catches_up_with_writes_from_another_session(db: TestDatabase) -> None:
    # Two "processes": each has its own index; writes go through separate sessions.
    with db.session() as s:
        index = DedupIndex.from_session(s)
        other = DedupIndex.from_session(s)
    assert len(index) == 0
    with db.session() as s:
        ann = person(s, "U1")
        first = example(s, ann, instruction=CAMPING)
        other.add(first.id, first.instruction, "open_qa")
        first_id = first.id
    with db.session() as s:
        assert index.sync(s) == 1
        assert index.sync(s) == 0  # nothing new: nothing changes
    assert index.nearest(CAMPING)[0].example_id == first_id

    # An edit elsewhere replaces the indexed text.
    with db.session() as s:
        ex = s.get(Example, first_id)
        assert ex is not None
        revise_example(s, ex, PairText(ROME, "", "The Pantheon and the Forum."), None)
    with db.session() as s:
        assert index.sync(s) == 1
    assert index.nearest(CAMPING) == []
    assert index.nearest(ROME)[0].example_id == first_id

    # Rejection elsewhere removes it.
    with db.session() as s:
        s.execute(
            update(Example).where(Example.id == first_id).values(status=ExampleStatus.REJECTED)
        )
    with db.session() as s:
        assert index.sync(s) == 1
    assert first_id not in index


def test_sync_notices_deleted_rows(db: TestDatabase) -> None:
    with db.session() as s:
        ann = person(s, "U1")
        keep = example(s, ann, instruction=CAMPING).id
        gone = example(s, ann, instruction=ROME).id
    with db.session() as s:
        index = DedupIndex.from_session(s)
    with db.session() as s:
        s.execute(delete(Example).where(Example.id == gone))
    with db.session() as s:
        assert index.sync(s) == 1
    assert keep in index and gone not in index


def test_sync_finds_rows_committed_late_with_old_ids_and_timestamps(db: TestDatabase) -> None:
    # A long transaction (an import) took its ids and timestamps before rows we already saw.
    with db.session() as s:
        ann = person(s, "U1")
        seen = example(s, ann, instruction=CAMPING)
        seen_id, category_id = seen.id, seen.category_id
    with db.session() as s:
        index = DedupIndex.from_session(s)
    long_ago = utcnow() - timedelta(hours=2)
    with db.session() as s:
        s.execute(
            insert(Example),
            [
                {
                    "id": seen_id + 100,
                    "category_id": category_id,
                    "instruction": ROME,
                    "context": "",
                    "response": "The Forum.",
                    "status": ExampleStatus.APPROVED,
                    "origin": Origin.IMPORTED,
                    "content_hash": "x" * 64,
                    "flags": [],
                    "created_at": long_ago,
                    "updated_at": long_ago,
                }
            ],
        )
    with db.session() as s:
        assert index.sync(s) == 1  # a newer id: found directly
    with db.session() as s:
        s.execute(
            insert(Example),
            [
                {
                    "id": seen_id + 50,  # lower than the newest id already indexed
                    "category_id": category_id,
                    "instruction": PASSAGE,
                    "context": "",
                    "response": "Yes.",
                    "status": ExampleStatus.APPROVED,
                    "origin": Origin.IMPORTED,
                    "content_hash": "y" * 64,
                    "flags": [],
                    "created_at": long_ago,
                    "updated_at": long_ago,
                }
            ],
        )
    with db.session() as s:
        assert index.sync(s) == 1  # found by the count of live rows
        assert index.sync(s) == 0
    assert index.nearest(PASSAGE)[0].example_id == seen_id + 50


def test_sync_drops_entries_of_rolled_back_submissions(db: TestDatabase) -> None:
    with db.session() as s:
        index = DedupIndex.from_session(s)
    with db.sessions() as s:  # a transaction that is never committed
        ex = example(s, person(s, "U1"), instruction=CAMPING)
        index.add(ex.id, ex.instruction, "open_qa")  # what gate.added() does
        s.rollback()
    assert len(index) == 1
    with db.session() as s:
        assert index.sync(s) == 1
    assert len(index) == 0
