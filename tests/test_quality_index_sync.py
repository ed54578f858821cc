"""DedupIndex against the database: built at start, caught up by sync from other writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session, sessionmaker

from store.categories import get_category
from store.db import make_engine, make_session_factory, session_scope
from store.enums import ExampleStatus, Origin
from store.examples import PairText, QualityReport, revise_example, submit_example
from store.models import Example
from store.quality import dedup
from store.quality.dedup import DedupIndex, prompt_text
from store.quality.gate import CorpusQualityGate
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


# -- another session's open transaction (issue 13) -------------------------------------------

MUSEUM = "Which museums in Paris are free to visit on the first Sunday of the month?"
ANSWER = "A complete and helpful answer to the question."


class Reconciles:
    """Counts full id-set comparisons (`DedupIndex._reconcile`) while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = DedupIndex._reconcile

        def counted(index: DedupIndex, session: Session) -> int:
            self.calls += 1
            return original(index, session)

        monkeypatch.setattr(DedupIndex, "_reconcile", counted)


def gate_over(db: TestDatabase) -> CorpusQualityGate:
    with db.session() as s:
        person(s, "U1")
        example(s, None, instruction=CAMPING)  # something to be different from
        return CorpusQualityGate(DedupIndex.from_session(s))


def submit_open(s: Session, gate: CorpusQualityGate, instruction: str) -> Example:
    """Submit through the gate in `s`'s transaction, leaving it open."""
    return submit_example(
        s,
        category=get_category(s, "open_qa"),
        text=PairText(instruction, "", ANSWER),
        author=person(s, "U1"),
        gate=gate,
    )


@pytest.fixture
def reader(db: TestDatabase) -> Iterator[sessionmaker[Session]]:
    """Sessions for session B. SQLite's sessions begin IMMEDIATE (one writer at a time), so
    B reads through a DEFERRED engine there: WAL lets it read beside A's open write."""
    if db.kind != "sqlite":
        yield db.sessions
        return
    engine = make_engine(db.url, sqlite_begin="DEFERRED")
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def check(b: sessionmaker[Session], gate: CorpusQualityGate, instruction: str) -> QualityReport:
    """Session B's check of an open QA instruction, in a transaction of its own."""
    with session_scope(b) as s:
        return gate.check(s, get_category(s, "open_qa"), PairText(instruction, "", ANSWER))


def test_a_check_does_not_compare_every_id_for_another_open_transaction(
    db: TestDatabase, reader: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = reader
    gate = gate_over(db)
    spy = Reconciles(monkeypatch)
    with db.sessions() as a:
        mine = submit_open(a, gate, MUSEUM).id
        assert check(b, gate, ROME).errors == {}  # B, while A is open
        assert check(b, gate, MUSEUM).errors  # the open submission is held back too
        assert spy.calls == 0 and mine in gate.index
        # A's own later check in the same transaction still sees it (a batch of drafts).
        report = gate.check(a, get_category(a, "open_qa"), PairText(MUSEUM + "!", "", ANSWER))
        assert f"#{mine}" in report.errors["instruction"]
        a.commit()
    assert f"#{mine}" in check(b, gate, MUSEUM).errors["instruction"]
    assert check(b, gate, ROME).errors == {}
    assert spy.calls == 0 and gate.index._provisional == {}


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_a_rolled_back_submission_is_not_matched_afterwards(
    db: TestDatabase, reader: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, end: str
) -> None:
    b = reader
    gate = gate_over(db)
    spy = Reconciles(monkeypatch)
    a = db.sessions()
    mine = submit_open(a, gate, MUSEUM).id
    assert check(b, gate, ROME).errors == {}
    if end == "rollback":
        a.rollback()
    a.close()
    assert check(b, gate, MUSEUM).errors == {}
    assert mine not in gate.index and len(gate.index) == 1
    assert spy.calls == 0 and gate.index._provisional == {}


def test_rolled_back_edits_and_rejections_leave_the_committed_text(
    db: TestDatabase, reader: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = reader
    gate = gate_over(db)
    with db.session() as s:
        kept = example(s, None, instruction=ROME).id
    spy = Reconciles(monkeypatch)
    with db.sessions() as a:
        ex = a.get(Example, kept)
        assert ex is not None
        revise_example(a, ex, PairText(MUSEUM, "", ANSWER), None, gate=gate)
        assert check(b, gate, PASSAGE).errors == {}
        a.rollback()
    assert check(b, gate, MUSEUM).errors == {}
    assert f"#{kept}" in check(b, gate, ROME).errors["instruction"]
    with db.sessions() as a:  # a rejection that gate.added takes out of the index
        ex = a.get(Example, kept)
        assert ex is not None
        ex.status = ExampleStatus.REJECTED
        a.flush()
        gate.added(ex)
        assert kept not in gate.index
        assert check(b, gate, PASSAGE).errors == {}
        a.rollback()
    assert f"#{kept}" in check(b, gate, ROME).errors["instruction"]
    with db.sessions() as a:  # the same rejection, committed this time
        ex = a.get(Example, kept)
        assert ex is not None
        ex.status = ExampleStatus.REJECTED
        a.flush()
        gate.added(ex)
        a.commit()
    assert check(b, gate, ROME).errors == {} and kept not in gate.index
    assert spy.calls == 0 and gate.index._provisional == {}


def test_a_provisional_entry_that_never_commits_is_reconciled_once_old(
    db: TestDatabase, reader: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A transaction whose end the index never hears of (its connection was dropped).
    b = reader
    gate = gate_over(db)
    spy = Reconciles(monkeypatch)
    with db.sessions() as a:
        ex = submit_open(a, gate, MUSEUM)
        mine = ex.id
        a.info.pop("crowdtune.dedup_pending")  # its listeners will find nothing to settle
        a.rollback()
    assert check(b, gate, ROME).errors == {} and spy.calls == 0 and mine in gate.index
    monkeypatch.setattr(dedup, "PROVISIONAL_TTL", 0.0)
    assert check(b, gate, MUSEUM).errors == {}
    assert spy.calls == 1 and mine not in gate.index


def test_threads_of_one_process_share_the_index_without_reconciling(
    db: TestDatabase, reader: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A web worker's threads: A submits in its own thread and holds its transaction open
    # while the main thread (B) checks, then commits; its session's events run in A's thread.
    b = reader
    gate = gate_over(db)
    spy = Reconciles(monkeypatch)
    submitted, checked = threading.Event(), threading.Event()
    ids: list[int] = []

    def writer() -> None:
        with db.sessions() as a:
            ids.append(submit_open(a, gate, MUSEUM).id)
            submitted.set()
            checked.wait(30)
            a.commit()

    thread = threading.Thread(target=writer)
    thread.start()
    assert submitted.wait(30)
    try:
        assert check(b, gate, ROME).errors == {} and ids[0] in gate.index
    finally:
        checked.set()
        thread.join(30)
    assert f"#{ids[0]}" in check(b, gate, MUSEUM).errors["instruction"]
    assert spy.calls == 0 and gate.index._provisional == {}
