"""`crowdtune scheduler`: the worker process (Procfile `worker`), or one job run by hand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from store.db import session_scope
from store.job_runs import recent_runs

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `scheduler` command."""
    p = sub.add_parser(
        "scheduler",
        help="run the worker: nudges, gap filling, exports, digest, expiry (each fire once)",
    )
    p.add_argument("--list", action="store_true", help="print the jobs and their next fire")
    p.add_argument("--run", metavar="JOB", help="run one fire of JOB now (claimed) and exit")
    p.add_argument("--worker-id", help="name in job_runs.claimed_by (default host:pid:random)")
    p.add_argument(
        "--stale-after",
        type=float,
        default=120.0,
        help="seconds without a heartbeat after which a run is taken over (default 120)",
    )
    p.add_argument(
        "--heartbeat", type=float, default=20.0, help="seconds between heartbeats (default 20)"
    )
    p.add_argument(
        "--sweep", type=float, default=60.0, help="seconds between stale-run sweeps (default 60)"
    )
    p.set_defaults(handler=run)


def print_jobs(rows: list[dict[str, Any]], zone_name: str) -> None:
    """One line per job: name, cron as configured, next fire in the configured zone, setting."""
    # The name column fits the longest name (consent_expiry, dedup_snapshot) and a space.
    w = max([10, *(len(str(row["job"])) + 2 for row in rows)])
    print(f"{'job':<{w}}{'cron':<20}{'next fire (' + zone_name + ')':<30}setting")
    for row in rows:
        setting = row["setting"] or "-"
        print(f"{row['job']:<{w}}{row['cron']:<20}{row['next'] or 'never':<30}{setting}")
        if row["note"]:
            print(f"{'':<{w}}({row['note']})")


def last_skip_reason(rt: Runtime, job: str, fire: datetime) -> str:
    """Why the run of `job` at `fire` was skipped (the setting it needs), from its claim."""
    with session_scope(rt.sessions) as s:
        runs = [r for r in recent_runs(s, job=job, limit=5) if r.scheduled_at == fire]
        reason = (runs[0].result or {}).get("skipped") if runs else None
    return str(reason or "not configured to run here")


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Build the jobs from settings and run them until SIGTERM, or run one and exit."""
    from bot.cli import UsageError  # the CLI's error type; imported late to avoid a cycle

    # APScheduler and every job's code (Slack, openai, the exporters) load only when run.
    from bot.scheduler.app import (
        build_scheduler,
        describe,
        new_worker_id,
        run_forever,
        schedule_catch_up,
    )
    from bot.scheduler.claims import ClaimedRunner
    from bot.scheduler.cron import CronError, zone
    from bot.scheduler.wiring import production_specs
    from exporters.run import sweep_interrupted_exports

    # Our own job_run lines say what ran; APScheduler's per-run INFO lines would repeat them.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if args.heartbeat <= 0 or args.stale_after <= 2 * args.heartbeat:
        raise UsageError("--stale-after must be more than twice --heartbeat (both positive)")
    if args.sweep <= 0:
        raise UsageError("--sweep must be positive")
    try:
        tz = zone(rt.settings.timezone)
        specs = production_specs(rt.settings, rt)
    except CronError as exc:
        raise UsageError(str(exc)) from exc
    runner = ClaimedRunner(
        rt.sessions,
        args.worker_id or new_worker_id(),
        stale_after=timedelta(seconds=args.stale_after),
        heartbeat_every=args.heartbeat,
    )
    if args.list:
        print_jobs(describe(specs, tz, runner.clock()), rt.settings.timezone)
        return 0
    # Exports killed midway (their Export row left `running`, a temporary folder beside
    # their target) are cleaned up by the same periodic sweep.
    exports_sweep = partial(
        sweep_interrupted_exports, rt.sessions, timedelta(seconds=args.stale_after)
    )
    sched = build_scheduler(runner, specs, tz=tz, sweep_every=args.sweep, sweeps=[exports_sweep])
    if args.run:
        if args.run not in runner.jobs:
            raise UsageError(f"unknown job {args.run!r}; jobs: {', '.join(sorted(runner.jobs))}")
        # A manual fire is keyed by the current second: running it twice in a second is one run.
        fire = runner.clock().replace(microsecond=0)
        outcome = runner.run_fire(args.run, scheduled_at=fire)
        print(json.dumps({"job": args.run, "scheduled_at": fire.isoformat(), "outcome": outcome}))
        if outcome == "skipped":
            reason = last_skip_reason(rt, args.run, fire)
            print(f"crowdtune: {args.run} did not run: {reason}", file=sys.stderr)
            return 3
        return 0 if outcome == "succeeded" else 1
    schedule_catch_up(sched, runner, specs)
    run_forever(sched)
    return 0
