"""The claimed runner on both databases: one log line per run, failures kept, stale runs re-run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.scheduler.app import JobSpec, build_scheduler, schedule_catch_up
from bot.scheduler.claims import ClaimedRunner
from bot.scheduler.cron import CronError, cron_trigger, latest_fire, zone
from store.db import make_engine, make_session_factory
from store.enums import RunStatus
from store.job_runs import claim
from store.models import JobRun
from tests.dbs import TestDatabase

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def runner(db: TestDatabase, worker: str, clock: Clock, **jobs: Any) -> ClaimedRunner:
    return ClaimedRunner(
        db.sessions,
        worker,
        stale_after=timedelta(seconds=60),
        heartbeat_every=3600,  # no beat inside these short runs; the clock is manual anyway
        clock=clock,
        jobs=dict(jobs),
    )


def job_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        json.loads(r.getMessage().split(" ", 1)[1])
        for r in caplog.records
        if r.getMessage().startswith("job_run ")
    ]


def test_a_fire_runs_once_and_logs_one_line(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="crowdtune.scheduler")
    seen: list[datetime] = []

    def job(now: datetime) -> dict[str, Any]:
        seen.append(now)
        return {"did": 1}

    clock = Clock(T0 + timedelta(seconds=3))
    a, b = runner(db, "A", clock, tick=job), runner(db, "B", clock, tick=job)
    assert a.run_fire("tick", scheduled_at=T0) == "succeeded"
    assert b.run_fire("tick", scheduled_at=T0) == "claimed_elsewhere"
    assert seen == [T0]  # jobs get the fire time, not the (later) start time
    lines = [ln for ln in job_lines(caplog) if ln["outcome"] == "succeeded"]
    assert len(lines) == 1
    line = lines[0]
    assert line["job"] == "tick" and line["worker"] == "A" and line["result"] == {"did": 1}
    assert line["scheduled_at"] == T0.isoformat() and isinstance(line["duration_s"], float)
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        assert run.status == RunStatus.SUCCEEDED and run.result == {"did": 1}


def test_a_failing_job_is_recorded_and_the_worker_survives(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(now: datetime) -> dict[str, Any]:
        raise RuntimeError("disk full")

    r = runner(db, "A", Clock(T0), broken=broken)
    assert r.run_fire("broken", scheduled_at=T0) == "failed"
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        assert run.status == RunStatus.FAILED and run.error == "RuntimeError: disk full"
    assert job_lines(caplog)[-1]["outcome"] == "failed"
    # A failed fire is not retried by the sweep; the next fire does the work.
    assert r.recover() == 0


def test_stale_run_is_rerun_by_the_sweep_then_abandoned_after_max_attempts(
    db: TestDatabase,
) -> None:
    runs: list[datetime] = []
    with db.session() as s:
        claim(s, "export", T0, "dead", timedelta(seconds=60), now=T0)
    clock = Clock(T0 + timedelta(seconds=30))
    b = runner(db, "B", clock, export=lambda now: runs.append(now) or {})
    assert b.recover() == 0  # heartbeat still fresh: the owner may be alive
    clock.now = T0 + timedelta(seconds=61)
    assert b.recover() == 1 and runs == [T0]
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        assert (run.status, run.attempt, run.claimed_by) == (RunStatus.SUCCEEDED, 2, "B")

    with db.session() as s:
        claim(s, "export", T0 + timedelta(days=7), "dead", timedelta(seconds=60), now=T0)
        poisoned = s.scalar(select(JobRun).where(JobRun.scheduled_at > T0))
        assert poisoned is not None
        poisoned.attempt = 3  # two workers already died running it
    clock.now = T0 + timedelta(minutes=5)
    assert b.recover() == 0
    with db.session() as s:
        run = s.scalar(select(JobRun).where(JobRun.scheduled_at > T0))
        assert run is not None and run.status == RunStatus.FAILED
        assert run.error is not None and "abandoned after 3 attempts" in run.error


def test_a_run_that_lost_its_claim_does_not_overwrite_the_new_owner(db: TestDatabase) -> None:
    clock = Clock(T0)
    a = runner(db, "A", clock)
    b = runner(db, "B", clock)

    def slow(now: datetime) -> dict[str, Any]:
        # While A "hangs" past stale_after, B's sweep takes the run over and finishes it.
        clock.now = T0 + timedelta(minutes=2)
        b.recover()
        return {"by": "A"}

    a.jobs["slow"] = slow
    b.jobs["slow"] = lambda now: {"by": "B"}
    assert a.run_fire("slow", scheduled_at=T0) == "lost_claim"
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        assert (run.claimed_by, run.attempt, run.result) == ("B", 2, {"by": "B"})


def test_cron_expressions_from_settings() -> None:
    utc = zone("UTC")
    # Standard cron numbers weekdays from Sunday = 0; APScheduler 3 would read 1-5 as Tue-Sat.
    t = cron_trigger("0 10 * * 1-5", utc)
    saturday = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
    assert t.get_next_fire_time(None, saturday) == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    assert "mon-fri" in str(cron_trigger("0 10 * * mon-fri", utc))
    assert "sun" in str(cron_trigger("0 10 * * 0", utc))
    assert "*/2" in str(cron_trigger("0 10 * * */2", utc))
    every_second = cron_trigger("* * * * * *", utc)
    assert every_second.get_next_fire_time(None, T0) == T0
    paris = cron_trigger("0 9 * * *", zone("Europe/Paris"))
    assert paris.get_next_fire_time(None, T0) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    with pytest.raises(CronError, match="expected 5"):
        cron_trigger("0 10 * *", utc, setting="CROWDTUNE_EXPORT_CRON")
    with pytest.raises(CronError, match="CROWDTUNE_DIGEST_CRON"):
        cron_trigger("61 * * * *", utc, setting="CROWDTUNE_DIGEST_CRON")
    with pytest.raises(CronError, match="IANA"):
        zone("Mars/Olympus")


def test_latest_fire_coalesces_a_window_to_its_last_fire() -> None:
    hourly = cron_trigger("0 * * * *", zone("UTC"))
    now = T0 + timedelta(hours=5, minutes=20)
    assert latest_fire(hourly, now, timedelta(hours=6)) == T0 + timedelta(hours=5)
    assert latest_fire(hourly, now, timedelta(minutes=10)) is None
    assert latest_fire(hourly, T0, timedelta(minutes=1)) == T0


def test_catch_up_queues_the_missed_fire_once(db: TestDatabase) -> None:
    tz = zone("UTC")
    clock = Clock(T0 + timedelta(minutes=20))
    spec = JobSpec("hourly", cron_trigger("0 * * * *", tz), lambda now: {}, timedelta(hours=1))
    r = runner(db, "A", clock)
    sched = build_scheduler(r, [spec], tz=tz, sweep_every=60)
    assert schedule_catch_up(sched, r, [spec]) == [f"hourly@{T0.isoformat()}"]
    assert sched.get_job("_catch_up_hourly") is not None
    # Once that fire is claimed (by this worker or another), a restart does not queue it again.
    with db.session() as s:
        claim(s, "hourly", T0, "B", timedelta(seconds=60), now=clock.now)
    sched2 = build_scheduler(runner(db, "C", clock), [spec], tz=tz, sweep_every=60)
    assert schedule_catch_up(sched2, runner(db, "C", clock), [spec]) == []


def test_the_sweep_never_recovers_a_run_of_its_own_process(db: TestDatabase) -> None:
    clock = Clock(T0)
    recovered: list[int] = []

    def long_job(now: datetime) -> dict[str, Any]:
        # The heartbeat was held up (e.g. a long SQLite write lock) past stale_after.
        clock.now = T0 + timedelta(minutes=10)
        recovered.append(r.recover())
        return {}

    r = runner(db, "A", clock, long=long_job)
    assert r.run_fire("long", scheduled_at=T0) == "succeeded"
    assert recovered == [0]
    with db.session() as s:
        assert s.scalars(select(JobRun)).one().attempt == 1


def test_a_database_error_while_claiming_is_one_clear_line(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    bad = make_session_factory(make_engine("sqlite:////nonexistent-dir/crowdtune.db"))
    r = ClaimedRunner(bad, "A", jobs={"tick": lambda now: {}})
    assert r.run_fire("tick", scheduled_at=T0) == "claim_failed"
    (line,) = job_lines(caplog)
    assert line["outcome"] == "claim_failed" and "OperationalError" in line["error"]


def test_a_job_that_cannot_run_here_logs_skipped(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="crowdtune.scheduler")
    r = runner(db, "A", Clock(T0), digest=lambda now: {"skipped": "needs a channel"})
    assert r.run_fire("digest", scheduled_at=T0) == "skipped"
    assert job_lines(caplog)[-1]["outcome"] == "skipped"
    with db.session() as s:
        assert s.scalars(select(JobRun)).one().status == RunStatus.SUCCEEDED
