"""5,000 nudges through a rate-limited Slack double: throughput as a fraction of the limit.

    python -m bench.nudge_bench [--nudged 5000] [--quiet 1000] [--rate 40] [--db sqlite|postgresql]

The Slack Web API double (bot/slack/standin/web_api.py, a real HTTP server) holds `chat.postMessage`
to a token bucket of `--rate` messages a second with a burst of one second's worth, answering
HTTP 429 + Retry-After beyond it, as Slack does. The worker's real nudge job runs once —
ClaimedRunner → bot.nudges.send_nudges, with the bot's WebClient (waits out each 429) — at
Monday 09:00 UTC for:

- `--nudged` people in UTC+1 zones (Paris, Berlin, Lagos…): 10:00 local, their nudge time;
- `--quiet` people in zones where it is quiet hours (Tokyo 18:00, New York 04:00…);
- a second worker firing the same fire concurrently (it must find it claimed).

It then checks that every UTC+1 person got exactly one DM, nobody else got any, and prints
the DM phase's throughput against what the bucket allows over the same span
(burst + rate × elapsed): the target is at least 0.9. Baseline: the allowed rate itself.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bot.runtime import Runtime
from bot.scheduler.claims import ClaimedRunner
from bot.scheduler.wiring import production_specs
from bot.slack.standin.web_api import SlackDouble
from migrations import runner as migrations
from store.categories import seed_default_categories
from store.db import make_engine, make_session_factory, session_scope
from store.models import Assignment, Category, Contributor, JobRun
from tests.dbs import fresh_postgres_database
from tests.slack_requests import settings_for

FIRE = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: 10:00 in UTC+1 in November
NUDGED_ZONES = ("Europe/Paris", "Europe/Berlin", "Europe/Rome", "Africa/Lagos", "Europe/Oslo")
QUIET_ZONES = ("Asia/Tokyo", "America/New_York", "Australia/Sydney", "America/Los_Angeles")
TEAM = "T0001"


class TimedDouble(SlackDouble):
    """The Slack double, also noting when each call was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.answered_at: list[tuple[str, int, float]] = []

    def answer(
        self, method: str, args: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        status, extra, body = super().answer(method, args, headers)
        self.answered_at.append((method, status, time.monotonic()))
        return status, extra, body


def seed(url: str, double: SlackDouble, nudged: int, quiet: int) -> dict[str, str]:
    """Contributors and their Slack users; returns user id → time zone."""
    engine = make_engine(url)
    zones: dict[str, str] = {}
    rows = []
    for i in range(nudged + quiet):
        pool = NUDGED_ZONES if i < nudged else QUIET_ZONES
        uid = f"U{i:06d}"
        tz = pool[i % len(pool)]
        zones[uid] = tz
        double.add_user(uid, tz=tz)
        rows.append(
            {
                "team_id": TEAM,
                "slack_user_id": uid,
                "display_name": uid,
                "tz": tz,
                "created_at": FIRE,
            }
        )
    with session_scope(make_session_factory(engine)) as s:
        seed_default_categories(s)
    with engine.begin() as conn:
        conn.execute(insert(Contributor), rows)
        # Targets large enough that every nudge has a category with a gap to ask for.
        conn.execute(Category.__table__.update().values(target=5_000))
    engine.dispose()
    return zones


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nudged", type=int, default=5000, help="people whose nudge time it is")
    p.add_argument("--quiet", type=int, default=1000, help="people in their quiet hours")
    p.add_argument("--rate", type=float, default=40.0, help="chat.postMessage per second")
    p.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="a fresh SQLite file, or a throw-away database on CROWDTUNE_TEST_PG_URL's server",
    )
    args = p.parse_args(argv)

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        double = stack.enter_context(TimedDouble())
        if args.db == "postgresql":
            url = stack.enter_context(fresh_postgres_database())
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrations.upgrade(url)
        zones = seed(url, double, args.nudged, args.quiet)
        double.rate_limit("chat.postMessage", rate=args.rate, burst=args.rate)

        settings = settings_for(url, double, quiet_hours="18-9", nudge_daily_cap=1)
        rt = Runtime(settings)
        nudge_fn = next(s.fn for s in production_specs(settings, rt) if s.name == "nudges")
        outcomes: dict[str, str] = {}

        def worker(name: str) -> None:
            r = ClaimedRunner(rt.sessions, name, jobs={"nudges": nudge_fn})
            outcomes[name] = r.run_fire("nudges", scheduled_at=FIRE)

        started = time.monotonic()
        threads = [threading.Thread(target=worker, args=(n,)) for n in ("W1", "W2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = time.monotonic() - started

        posts = [c for c in double.calls_to("chat.postMessage") if c.reply.get("ok")]
        got = Counter(str(c.args["channel"])[1:] for c in posts)
        expected = {uid for uid, tz in zones.items() if tz in NUDGED_ZONES}
        twice = sorted(u for u, n in got.items() if n > 1)
        lost = sorted(expected - set(got))
        quiet_hit = sorted(u for u in got if zones.get(u) in QUIET_ZONES)
        throttled = sum(
            1 for m, status, _ in double.answered_at if m == "chat.postMessage" and status == 429
        )
        ok_times = [
            t for m, status, t in double.answered_at if m == "chat.postMessage" and status == 200
        ]
        span = ok_times[-1] - ok_times[0] if len(ok_times) > 1 else 0.0
        allowed = args.rate + args.rate * span  # burst + rate × elapsed
        with session_scope(rt.sessions) as s:
            runs = list(s.scalars(select(JobRun)))
            assignments = len(list(s.scalars(select(Assignment.id))))
        rt.close()

    print(f"database: {args.db}; allowed chat.postMessage rate: {args.rate}/s, burst {args.rate}")
    print(f"people: {args.nudged} at their nudge time (UTC+1), {args.quiet} in quiet hours")
    print(f"worker outcomes: {dict(sorted(outcomes.items()))}; job_runs rows: {len(runs)}")
    print(f"job result: {runs[0].result if runs else None}")
    print(
        f"DMs sent: {len(posts)}  twice: {len(twice)}  lost: {len(lost)}  "
        f"quiet-hours DMs: {len(quiet_hit)}  assignments: {assignments}"
    )
    print(f"429 answers (each waited out): {throttled}")
    print(
        f"whole run: {total:.1f} s (incl. users.info refresh and planning); "
        f"DM phase: {span:.1f} s from first to last accepted chat.postMessage"
    )
    achieved = len(ok_times) / span if span else float("nan")
    print(f"{'':<28}{'msgs/s':>10}{'vs allowed':>12}")
    print(f"{'allowed (token bucket)':<28}{args.rate:>10.1f}{1.0:>12.3f}")
    print(f"{'achieved':<28}{achieved:>10.1f}{len(ok_times) / allowed:>12.3f}")
    print("ratio = accepted messages / (burst + rate × DM-phase seconds); target >= 0.9")
    ok = not twice and not lost and not quiet_hit and len(posts) == args.nudged
    # Exactly one worker ran the fire; the other found it claimed (or, on SQLite, could not
    # even read while the run held the write lock: claim_failed, which also runs nothing).
    ok = ok and sorted(outcomes.values()).count("succeeded") == 1 and len(runs) == 1
    if not ok:
        print("FAILED: " + f"twice={twice[:5]} lost={lost[:5]} quiet={quiet_hit[:5]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
