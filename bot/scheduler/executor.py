"""A thread-pool executor that hands each job the time its fire was scheduled for."""

from __future__ import annotations

from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor


class _FireJob:
    """The APScheduler job seen through one fire: same job, plus `scheduled_at` in kwargs."""

    def __init__(self, job: Any, scheduled_at: Any) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "scheduled_at": scheduled_at}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class FireTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """Passes `scheduled_at` (the fire time, not the start time) to the job function.

    The fire time is the claim key, so two workers agree on it whatever their clocks' lag.
    Jobs run with coalesce=True: of several missed run times only the latest is run.
    """

    def _do_submit_job(self, job: Any, run_times: list[Any]) -> None:
        latest = run_times[-1:]
        super()._do_submit_job(_FireJob(job, latest[0]), latest)
