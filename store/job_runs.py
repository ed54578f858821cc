"""Exactly-once claims of scheduled job fires, in the `job_runs` table.

Each fire of a job is one row, unique on (job_name, scheduled_at). A worker runs a fire only
after inserting that row (its claim) and committing. A crashed worker leaves its row
`running` with a heartbeat that stops moving; once the heartbeat is older than `stale_after`,
exactly one other worker takes the row over with a conditional UPDATE (bumping `attempt`)
and runs the fire again. Heartbeats and the final status are conditional on the claimant and
attempt, so a worker that lost its claim finds out instead of overwriting the new owner.

Callers commit after `claim`/`take_over` before running the job, so the claim is visible to
every other worker (and, on PostgreSQL, a concurrent insert of the same fire stops waiting).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.enums import RunStatus
from store.models import JobRun

MAX_ERROR_CHARS = 4000


def claim(
    session: Session,
    job: str,
    scheduled_at: datetime,
    worker_id: str,
    stale_after: timedelta,
    *,
    now: datetime,
) -> JobRun | None:
    """Claim one fire: insert its row, or take over a stale `running` one; None if taken."""
    run = JobRun(
        job_name=job,
        scheduled_at=scheduled_at,
        status=RunStatus.RUNNING,
        claimed_by=worker_id,
        attempt=1,
        started_at=now,
        heartbeat_at=now,
        result={},
    )
    try:
        # A savepoint, so a lost race rolls back only the insert, not the caller's transaction.
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        pass
    else:
        return run
    existing = session.scalar(
        select(JobRun).where(JobRun.job_name == job, JobRun.scheduled_at == scheduled_at)
    )
    if existing is None:  # deleted between the insert and this read; nothing to take over
        return None
    return take_over(session, existing.id, worker_id, stale_after, now=now)


def take_over(
    session: Session, run_id: int, worker_id: str, stale_after: timedelta, *, now: datetime
) -> JobRun | None:
    """Take a `running` run whose heartbeat is older than `stale_after`; None if not stale."""
    cutoff = now - stale_after
    result = session.execute(
        update(JobRun)
        .where(
            JobRun.id == run_id,
            JobRun.status == RunStatus.RUNNING,
            JobRun.heartbeat_at < cutoff,
        )
        .values(
            claimed_by=worker_id,
            attempt=JobRun.attempt + 1,
            started_at=now,
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.scalar(
        select(JobRun).where(JobRun.id == run_id).execution_options(populate_existing=True)
    )


def stale_runs(
    session: Session,
    stale_after: timedelta,
    *,
    now: datetime,
    jobs: frozenset[str] | None = None,
) -> list[JobRun]:
    """`running` runs whose heartbeat stopped more than `stale_after` ago, oldest fire first."""
    stmt = (
        select(JobRun)
        .where(JobRun.status == RunStatus.RUNNING, JobRun.heartbeat_at < now - stale_after)
        .order_by(JobRun.scheduled_at, JobRun.id)
    )
    if jobs is not None:
        stmt = stmt.where(JobRun.job_name.in_(sorted(jobs)))
    return list(session.scalars(stmt))


def heartbeat(session: Session, run: JobRun, *, now: datetime) -> bool:
    """Move the run's heartbeat; False when another worker has taken the run over."""
    result = session.execute(
        update(JobRun)
        .where(*_owned(run))
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def finish(
    session: Session,
    run: JobRun,
    *,
    succeeded: bool,
    now: datetime,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Record the outcome; False (nothing written) when the run is no longer ours."""
    status = RunStatus.SUCCEEDED if succeeded else RunStatus.FAILED
    res = session.execute(
        update(JobRun)
        .where(*_owned(run))
        .values(
            status=status,
            finished_at=now,
            heartbeat_at=now,
            result=result or {},
            error=error[:MAX_ERROR_CHARS] if error else None,
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(res, "rowcount", 0) == 1


def abandon(
    session: Session, run: JobRun, stale_after: timedelta, *, now: datetime, reason: str
) -> bool:
    """Mark a stale run failed instead of running it again (it used up its attempts)."""
    res = session.execute(
        update(JobRun)
        .where(JobRun.id == run.id, JobRun.status == RunStatus.RUNNING)
        .where(JobRun.attempt == run.attempt, JobRun.heartbeat_at < now - stale_after)
        .values(status=RunStatus.FAILED, finished_at=now, error=reason[:MAX_ERROR_CHARS])
        .execution_options(synchronize_session=False)
    )
    return getattr(res, "rowcount", 0) == 1


def fire_exists(session: Session, job: str, scheduled_at: datetime) -> bool:
    """Whether this fire of `job` has been claimed by anyone."""
    return (
        session.scalar(
            select(JobRun.id).where(JobRun.job_name == job, JobRun.scheduled_at == scheduled_at)
        )
        is not None
    )


def recent_runs(session: Session, *, job: str | None = None, limit: int = 20) -> list[JobRun]:
    """The latest runs (optionally of one job), newest fire first."""
    stmt = select(JobRun).order_by(JobRun.scheduled_at.desc(), JobRun.id.desc()).limit(limit)
    if job is not None:
        stmt = stmt.where(JobRun.job_name == job)
    return list(session.scalars(stmt))


def _owned(run: JobRun) -> tuple[Any, ...]:
    # The claimant and attempt identify one ownership of the row; a take-over changes both.
    return (
        JobRun.id == run.id,
        JobRun.status == RunStatus.RUNNING,
        JobRun.claimed_by == run.claimed_by,
        JobRun.attempt == run.attempt,
    )


__all__ = [
    "abandon",
    "claim",
    "finish",
    "fire_exists",
    "heartbeat",
    "recent_runs",
    "stale_runs",
    "take_over",
]
