"""Build the worker's BlockingScheduler from settings: in-memory jobs, claims in the database.

APScheduler keeps each worker's jobs in memory (a shared job store would run fires twice);
what makes a fire run once is the claim in `job_runs` (see `claims.py`). Because the store is
in memory, a worker that was down knows nothing of the fires it missed: at start it looks
back over each job's misfire grace time and runs the latest unclaimed fire once (coalesced).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.scheduler.claims import ClaimedRunner, JobFn
from bot.scheduler.cron import latest_fire
from bot.scheduler.executor import FireTimeExecutor
from store.db import session_scope
from store.job_runs import fire_exists

log = logging.getLogger("crowdtune.scheduler")

PLAIN_EXECUTOR = "plain"


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its name (the claim key), trigger, function and misfire grace."""

    name: str
    trigger: CronTrigger
    fn: JobFn
    misfire_grace: timedelta
    max_instances: int = 1
    # The expression as the user wrote it and the setting it came from, for `--list`.
    cron: str = ""
    setting: str = ""
    note: str = ""


def new_worker_id() -> str:
    """host:pid:random, unique per process, readable in `job_runs.claimed_by`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_scheduler(
    runner: ClaimedRunner,
    specs: list[JobSpec],
    *,
    tz: ZoneInfo,
    sweep_every: float,
    threads: int = 8,
    sweeps: Sequence[Callable[[], object]] = (),
) -> BlockingScheduler:
    """A BlockingScheduler with each spec as a claimed, coalescing job, plus the stale sweep
    (and `sweeps`, run as often: e.g. interrupted exports)."""
    sched = BlockingScheduler(
        timezone=tz,
        executors={
            "default": FireTimeExecutor(max_workers=threads),
            PLAIN_EXECUTOR: ThreadPoolExecutor(max_workers=2),
        },
    )
    for spec in specs:
        runner.jobs[spec.name] = spec.fn
        sched.add_job(
            runner.run_fire,
            spec.trigger,
            args=[spec.name],
            id=spec.name,
            name=spec.name,
            coalesce=True,
            misfire_grace_time=max(1, int(spec.misfire_grace.total_seconds())),
            max_instances=spec.max_instances,
        )
    sched.add_job(
        runner.recover,
        IntervalTrigger(seconds=sweep_every, timezone=tz),
        id="_recover_stale",
        name="recover stale runs",
        executor=PLAIN_EXECUTOR,
        coalesce=True,
        max_instances=1,
    )
    for i, sweep in enumerate(sweeps):
        sched.add_job(
            _logged(sweep),
            IntervalTrigger(seconds=sweep_every, timezone=tz),
            id=f"_sweep_{i}",
            name=getattr(sweep, "__name__", f"sweep {i}"),
            executor=PLAIN_EXECUTOR,
            coalesce=True,
            max_instances=1,
        )
    return sched


def _logged(sweep: Callable[[], object]) -> Callable[[], None]:
    # A sweep that fails (database away) says so in one line and runs again next time.
    def run() -> None:
        try:
            sweep()
        except Exception as exc:
            log.warning("sweep failed: %s: %s", type(exc).__name__, exc)

    return run


def schedule_catch_up(
    sched: BlockingScheduler, runner: ClaimedRunner, specs: list[JobSpec]
) -> list[str]:
    """Queue, once, the latest fire of each job missed while no worker ran (within its grace)."""
    now = runner.clock()
    queued = []
    for spec in specs:
        fire = latest_fire(spec.trigger, now, spec.misfire_grace)
        if fire is None:
            continue
        with session_scope(runner.sessions) as s:
            if fire_exists(s, spec.name, fire):
                continue
        sched.add_job(
            runner.run_fire,
            "date",
            run_date=now,
            args=[spec.name],
            kwargs={"scheduled_at": fire},
            id=f"_catch_up_{spec.name}",
            executor=PLAIN_EXECUTOR,
            misfire_grace_time=None,
        )
        queued.append(f"{spec.name}@{fire.isoformat()}")
    if queued:
        log.info("catching up missed fires: %s", ", ".join(queued))
    return queued


def run_forever(sched: BlockingScheduler, on_stop: Callable[[], None] | None = None) -> None:
    """Start the scheduler in this thread; SIGTERM/SIGINT stop it after running jobs finish."""

    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            # A second SIGTERM (supervisors often send two) while jobs finish: nothing to add.
            log.info("scheduler already stopping (signal %d); still waiting for jobs", signum)
            return
        stopping.set()
        log.info("scheduler stopping on signal %d; waiting for running jobs", signum)
        # Waits for the runs in progress, so their claims end `succeeded`/`failed`, not stale.
        # (Not running: the signal came before start() or after the scheduler ended itself.)
        with contextlib.suppress(SchedulerNotRunningError):
            sched.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sched.start()
    finally:
        if on_stop is not None:
            on_stop()


def describe(specs: list[JobSpec], tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """Each job as the user configured it: name, cron, setting, next fire in the zone `tz`."""
    out = []
    for spec in specs:
        nxt = spec.trigger.get_next_fire_time(None, now)
        out.append(
            {
                "job": spec.name,
                "cron": spec.cron,
                "setting": spec.setting,
                "next": nxt.astimezone(tz).isoformat() if nxt else None,
                "note": spec.note,
            }
        )
    return out


__all__ = [
    "JobSpec",
    "build_scheduler",
    "describe",
    "new_worker_id",
    "run_forever",
    "schedule_catch_up",
]
