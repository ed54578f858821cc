"""A scheduler worker for process tests: the real claim machinery and a 1-second probe job.

    python -m tests.scheduler_probe DATABASE_URL --worker-id A --job-seconds 0.2

Every second (cron `* * * * * *`) the probe job sleeps `--job-seconds`, then records its fire
in the `probe_fires` table in one transaction; the test counts fires and duplicates there.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from bot.scheduler.app import JobSpec, build_scheduler, run_forever, schedule_catch_up
from bot.scheduler.claims import ClaimedRunner
from bot.scheduler.cron import cron_trigger, zone
from store.db import make_engine, make_session_factory, session_scope
from store.types import UTCDateTime

PROBE_JOB = "probe"
probe_meta = MetaData()
probe_fires = Table(
    "probe_fires",
    probe_meta,
    Column("id", Integer, primary_key=True),
    Column("scheduled_at", UTCDateTime, nullable=False),
    Column("worker", String(64), nullable=False),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--worker-id", required=True)
    p.add_argument("--job-seconds", type=float, default=0.1)
    p.add_argument("--stale-after", type=float, default=1.5)
    p.add_argument("--heartbeat", type=float, default=0.3)
    p.add_argument("--sweep", type=float, default=0.5)
    p.add_argument("--grace", type=float, default=5.0)
    args = p.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("crowdtune.scheduler").setLevel(logging.DEBUG)
    engine = make_engine(args.url)
    sessions = make_session_factory(engine)

    def probe(now: datetime) -> dict[str, Any]:
        time.sleep(args.job_seconds)  # the "long run" a SIGKILL lands in
        with session_scope(sessions) as s:
            s.execute(insert(probe_fires).values(scheduled_at=now, worker=args.worker_id))
        return {"recorded": now.isoformat()}

    tz = zone("UTC")
    spec = JobSpec(
        PROBE_JOB,
        cron_trigger("* * * * * *", tz),
        probe,
        timedelta(seconds=args.grace),
        max_instances=4,
    )
    runner = ClaimedRunner(
        sessions,
        args.worker_id,
        stale_after=timedelta(seconds=args.stale_after),
        heartbeat_every=args.heartbeat,
    )
    sched = build_scheduler(runner, [spec], tz=tz, sweep_every=args.sweep)
    schedule_catch_up(sched, runner, [spec])
    print("ready", flush=True)
    run_forever(sched, on_stop=engine.dispose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
