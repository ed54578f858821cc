"""Claim → run → finish around every job fire, with a heartbeat and one log line per run.

Crash policy: a run left `running` by a dead worker (heartbeat older than `stale_after`) is
taken over — the same fire, same `scheduled_at`, `attempt` + 1 — by the first worker that
sweeps: every worker sweeps every `sweep_every` seconds and before each fire of a job. After
`max_attempts` the fire is marked failed instead, so a job that kills its worker every time
does not loop forever. A job that raises is recorded `failed` with its error and is not
retried: the next scheduled fire does the work again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store.db import session_scope
from store.job_runs import abandon, claim, finish, heartbeat, stale_runs, take_over
from store.models import JobRun

log = logging.getLogger("crowdtune.scheduler")

# A job is called with its fire's scheduled time as `now` (so a late start or a re-run after a
# crash does the same work as the fire would have) and returns a small JSON-able summary.
JobFn = Callable[[datetime], dict[str, Any]]


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


@dataclass
class ClaimedRunner:
    """Runs job fires exactly once across workers sharing one database."""

    sessions: sessionmaker[Session]
    worker_id: str
    stale_after: timedelta = timedelta(minutes=2)
    heartbeat_every: float = 20.0
    max_attempts: int = 3
    clock: Callable[[], datetime] = utc_now
    jobs: dict[str, JobFn] = field(default_factory=dict)
    # Runs executing in this process: never "recovered" by our own sweep, even if a long
    # write lock (SQLite) delayed their heartbeat past stale_after.
    _active: set[int] = field(default_factory=set, init=False, repr=False)
    _active_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run_fire(self, name: str, scheduled_at: datetime | None = None) -> str:
        """Recover stale runs of `name`, then claim and run this fire; returns the outcome."""
        if scheduled_at is None:
            # FireTimeExecutor passes it; without it two workers could not agree on the key.
            raise ValueError("run_fire needs the fire's scheduled_at")
        try:
            self.recover(frozenset({name}))
            with session_scope(self.sessions) as s:
                run = claim(
                    s, name, scheduled_at, self.worker_id, self.stale_after, now=self.clock()
                )
        except SQLAlchemyError as exc:
            # Database unreachable or locked past its timeout: this worker skips the fire
            # (another worker may claim it); the line says so instead of a bare traceback.
            _log_line(
                logging.ERROR,
                job=name,
                scheduled_at=scheduled_at,
                outcome="claim_failed",
                worker=self.worker_id,
                error=f"{type(exc).__name__}: {exc}"[:500],
            )
            return "claim_failed"
        if run is None:
            # Normal with several workers: another one has this fire.
            _log_line(
                logging.DEBUG,
                job=name,
                scheduled_at=scheduled_at,
                outcome="claimed_elsewhere",
                worker=self.worker_id,
            )
            return "claimed_elsewhere"
        return self._execute(run)

    def recover(self, only: frozenset[str] | None = None) -> int:
        """Take over (or give up on) stale runs of known jobs; returns how many were re-run."""
        names = frozenset(self.jobs) if only is None else only & frozenset(self.jobs)
        if not names:
            return 0
        with session_scope(self.sessions) as s:
            candidates = stale_runs(s, self.stale_after, now=self.clock(), jobs=names)
        rerun = 0
        with self._active_lock:
            candidates = [r for r in candidates if r.id not in self._active]
        for stale in candidates:
            if stale.attempt >= self.max_attempts:
                with session_scope(self.sessions) as s:
                    gave_up = abandon(
                        s,
                        stale,
                        self.stale_after,
                        now=self.clock(),
                        reason=f"abandoned after {stale.attempt} attempts without a heartbeat",
                    )
                if gave_up:
                    _log_line(
                        logging.ERROR,
                        job=stale.job_name,
                        scheduled_at=stale.scheduled_at,
                        outcome="abandoned",
                        worker=self.worker_id,
                        attempt=stale.attempt,
                    )
                continue
            with session_scope(self.sessions) as s:
                mine = take_over(s, stale.id, self.worker_id, self.stale_after, now=self.clock())
            if mine is not None:
                _log_line(
                    logging.WARNING,
                    job=mine.job_name,
                    scheduled_at=mine.scheduled_at,
                    outcome="taken_over",
                    worker=self.worker_id,
                    attempt=mine.attempt,
                    previous_worker=stale.claimed_by,
                )
                self._execute(mine)
                rerun += 1
        return rerun

    def _execute(self, run: JobRun) -> str:
        with self._active_lock:
            self._active.add(run.id)
        try:
            return self._execute_active(run)
        finally:
            with self._active_lock:
                self._active.discard(run.id)

    def _execute_active(self, run: JobRun) -> str:
        fn = self.jobs[run.job_name]
        stop = threading.Event()
        lost = threading.Event()
        beat = threading.Thread(
            target=self._beat, args=(run, stop, lost), name=f"heartbeat-{run.job_name}", daemon=True
        )
        beat.start()
        started = time.monotonic()
        result: dict[str, Any] = {}
        error: str | None = None
        try:
            result = fn(run.scheduled_at)
        except Exception as exc:  # a job's failure is recorded, never kills the worker
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s raised", run.job_name)
        finally:
            stop.set()
            beat.join()
        duration = time.monotonic() - started
        with session_scope(self.sessions) as s:
            recorded = finish(
                s, run, succeeded=error is None, now=self.clock(), result=result, error=error
            )
        outcome = "succeeded" if error is None else "failed"
        if error is None and "skipped" in result:
            outcome = "skipped"  # not configured to run; recorded as succeeded, said plainly
        if not recorded:
            # Our heartbeat lapsed and someone took over: their outcome is the one that counts.
            outcome = "lost_claim"
        _log_line(
            logging.INFO if outcome in ("succeeded", "skipped") else logging.ERROR,
            job=run.job_name,
            scheduled_at=run.scheduled_at,
            outcome=outcome,
            duration_s=round(duration, 3),
            worker=self.worker_id,
            attempt=run.attempt,
            result=result,
            error=error,
        )
        return outcome

    def _beat(self, run: JobRun, stop: threading.Event, lost: threading.Event) -> None:
        while not stop.wait(self.heartbeat_every):
            try:
                with session_scope(self.sessions) as s:
                    if not heartbeat(s, run, now=self.clock()):
                        lost.set()
                        return
            except Exception:  # a missed beat is retried at the next interval
                log.warning("heartbeat of %s failed", run.job_name, exc_info=True)


def _log_line(level: int, **fields: Any) -> None:
    # One JSON object per line, so log shippers can parse job runs without regexes.
    doc = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
    doc = {k: v for k, v in doc.items() if v is not None}
    log.log(level, "job_run %s", json.dumps(doc, sort_keys=False, default=str))
