"""Claims of scheduled fires on both databases: one winner, stale take-over, ownership checks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from store.enums import RunStatus
from store.job_runs import (
    abandon,
    claim,
    finish,
    fire_exists,
    heartbeat,
    recent_runs,
    stale_runs,
    take_over,
)
from store.models import JobRun
from tests.dbs import TestDatabase

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STALE = timedelta(seconds=30)


def test_first_claim_wins_and_second_gets_none(db: TestDatabase) -> None:
    with db.session() as s:
        run = claim(s, "digest", T0, "w1", STALE, now=T0)
        assert run is not None and run.attempt == 1 and run.claimed_by == "w1"
    with db.session() as s:
        assert claim(s, "digest", T0, "w2", STALE, now=T0 + timedelta(seconds=1)) is None
        # A different fire of the same job, or the same time of another job, is free.
        assert claim(s, "digest", T0 + timedelta(hours=1), "w2", STALE, now=T0) is not None
        assert claim(s, "export", T0, "w2", STALE, now=T0) is not None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(JobRun)) == 3
        assert fire_exists(s, "digest", T0)
        assert not fire_exists(s, "digest", T0 + timedelta(minutes=1))


def test_lost_claim_keeps_the_callers_transaction(db: TestDatabase) -> None:
    with db.session() as s:
        claim(s, "nudges", T0, "w1", STALE, now=T0)
    with db.session() as s:
        mine = claim(s, "expiry", T0, "w2", STALE, now=T0)
        assert claim(s, "nudges", T0, "w2", STALE, now=T0) is None
        assert mine is not None
    with db.session() as s:
        # The savepoint rolled back only the losing insert; the earlier claim was committed.
        assert fire_exists(s, "expiry", T0)


def test_stale_running_run_is_taken_over_once(db: TestDatabase) -> None:
    with db.session() as s:
        first = claim(s, "export", T0, "w1", STALE, now=T0)
        assert first is not None
    later = T0 + STALE + timedelta(seconds=1)
    with db.session() as s:
        assert [r.job_name for r in stale_runs(s, STALE, now=later)] == ["export"]
        taken = claim(s, "export", T0, "w2", STALE, now=later)
        assert taken is not None and taken.attempt == 2 and taken.claimed_by == "w2"
    with db.session() as s:
        # The take-over refreshed the heartbeat, so a third worker cannot take it again.
        assert claim(s, "export", T0, "w3", STALE, now=later) is None
        assert stale_runs(s, STALE, now=later) == []
        # The crashed worker, if it comes back, has lost the run.
        assert not heartbeat(s, first, now=later)
        assert not finish(s, first, succeeded=True, now=later)
    with db.session() as s:
        assert heartbeat(s, taken, now=later)
        assert finish(s, taken, succeeded=True, now=later, result={"rows": 3})
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        assert (run.status, run.attempt, run.claimed_by, run.result) == (
            RunStatus.SUCCEEDED,
            2,
            "w2",
            {"rows": 3},
        )


def test_fresh_heartbeat_protects_a_long_run(db: TestDatabase) -> None:
    with db.session() as s:
        run = claim(s, "gap_fill", T0, "w1", STALE, now=T0)
        assert run is not None
    with db.session() as s:
        assert heartbeat(s, run, now=T0 + timedelta(seconds=25))
    with db.session() as s:
        assert claim(s, "gap_fill", T0, "w2", STALE, now=T0 + timedelta(seconds=50)) is None


def test_finished_runs_are_never_taken_over(db: TestDatabase) -> None:
    with db.session() as s:
        ok = claim(s, "digest", T0, "w1", STALE, now=T0)
        bad = claim(s, "export", T0, "w1", STALE, now=T0)
        assert ok is not None and bad is not None
    with db.session() as s:
        assert finish(s, ok, succeeded=True, now=T0)
        assert finish(s, bad, succeeded=False, now=T0, error="boom " * 2000)
    much_later = T0 + timedelta(days=1)
    with db.session() as s:
        assert claim(s, "digest", T0, "w2", STALE, now=much_later) is None
        assert claim(s, "export", T0, "w2", STALE, now=much_later) is None
        failed = s.scalar(select(JobRun).where(JobRun.job_name == "export"))
        assert failed is not None and failed.status == RunStatus.FAILED
        assert failed.error is not None and failed.error.startswith("boom")
        assert len(failed.error) == 4000
        assert [r.job_name for r in recent_runs(s, job="digest")] == ["digest"]


def test_take_over_race_has_one_winner(db: TestDatabase) -> None:
    with db.session() as s:
        run = claim(s, "nudges", T0, "w0", STALE, now=T0)
        assert run is not None
        run_id = run.id
    later = T0 + timedelta(minutes=5)
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(worker: str) -> None:
        barrier.wait()
        with db.session() as s:
            if take_over(s, run_id, worker, STALE, now=later) is not None:
                winners.append(worker)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    with db.session() as s:
        row = s.get(JobRun, run_id)
        assert row is not None and row.attempt == 2 and row.claimed_by == winners[0]


def test_insert_race_has_one_winner(db: TestDatabase) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(worker: str) -> None:
        barrier.wait()
        with db.session() as s:
            if claim(s, "expiry", T0, worker, STALE, now=T0) is not None:
                winners.append(worker)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(JobRun)) == 1


def test_abandon_only_a_stale_run(db: TestDatabase) -> None:
    with db.session() as s:
        run = claim(s, "export", T0, "w1", STALE, now=T0)
        assert run is not None
    with db.session() as s:
        assert not abandon(s, run, STALE, now=T0 + timedelta(seconds=5), reason="x")
        assert abandon(s, run, STALE, now=T0 + timedelta(minutes=5), reason="gave up")
    with db.session() as s:
        row = s.scalars(select(JobRun)).one()
        assert row.status == RunStatus.FAILED and row.error == "gave up"
