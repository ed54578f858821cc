"""The scheduler's jobs, run now from the page: the worker's own job functions and claims."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bot.commands.generate import llm_configured
from bot.nudges import NudgePolicy, send_nudges
from bot.runtime import Runtime
from bot.scheduler.app import JobSpec
from bot.scheduler.claims import ClaimedRunner
from bot.scheduler.jobs import nudge_job
from bot.scheduler.nudging import summarize
from bot.scheduler.wiring import production_specs, slack_client
from store.db import session_scope
from store.job_runs import recent_runs


@dataclass(frozen=True)
class JobButton:
    """A job the page offers, and why it cannot run when it cannot."""

    name: str
    label: str
    unavailable: str | None = None


LABELS = {
    "nudges": "Send nudges",
    "digest": "Post weekly digest",
    "export": "Run export",
    "gap_fill": "Fill gaps with LLM drafts",
    "expiry": "Expire stale assignments",
}


class JobRunner:
    """Runs one fire of a job now, claimed in job_runs like the worker's fires."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        specs = {s.name: s for s in production_specs(rt.settings, rt)}
        client = slack_client(rt.settings)
        if client is not None:
            # "Now" means now: everyone outside quiet hours and under the daily cap, as
            # `crowdtune nudge --send` does, not only those whose local 10:00 it is.
            policy = NudgePolicy.from_settings(rt.settings)

            def send(now: datetime) -> dict[str, Any]:
                return summarize(send_nudges(rt.sessions, client, now=now, policy=policy))

            nudges = specs["nudges"]
            specs["nudges"] = JobSpec(
                nudges.name, nudges.trigger, partial(nudge_job, send=send), nudges.misfire_grace
            )
        self.specs = specs
        self.runner = ClaimedRunner(
            rt.sessions,
            f"sandbox:{os.getpid()}",
            stale_after=timedelta(seconds=120),
            heartbeat_every=20,
        )
        for spec in specs.values():
            self.runner.jobs[spec.name] = spec.fn

    def buttons(self) -> list[JobButton]:
        """The jobs in the page's order, with the reason a job is unavailable."""
        out = []
        for name, label in LABELS.items():
            why = None
            if name == "gap_fill" and not llm_configured(self.rt.settings):
                why = "needs OPENAI_BASE_URL or OPENAI_API_KEY"
            out.append(JobButton(name, label, why))
        return out

    def run(self, name: str) -> dict[str, Any]:
        """Run `name` now; its outcome and the result or error recorded in job_runs."""
        if name not in self.specs:
            raise KeyError(name)
        fire = datetime.now(UTC).replace(microsecond=0)
        outcome = self.runner.run_fire(name, scheduled_at=fire)
        with session_scope(self.rt.sessions) as s:
            runs = recent_runs(s, job=name, limit=1)
            result = runs[0].result if runs else None
            error = runs[0].error if runs else None
        return {"job": name, "outcome": outcome, "result": result, "error": error}
