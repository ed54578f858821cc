"""The capture shortcut against Slack's 3-second trigger_id: how long after Slack sends the
message_action the modal opens (views.open), and how long until it shows the thread
(views.update), for threads of 1, 15, 60 and 300 messages (1, 1, 4 and 20 pages of
conversations.replies).

The real app (Bolt's WSGI adapter, signed requests) runs against the local stand-in with a
workspace holding the thread, on SQLite or PostgreSQL; times are taken from the stand-in's
record of each call (monotonic clock, same process), so they include the HTTP hops.

    .venv/bin/python bench/capture_bench.py [--sizes 1,15,60,300] [--runs 20]
        [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.slack.handlers.capture import SHORTCUT
from bot.slack.standin.web_api import BOT_USER_ID, SlackDouble
from bot.slack.standin.workspace import Workspace
from tests.dbs import migrated_database
from tests.slack_requests import SlackApp, message_action_payload, settings_for

CHANNEL = "C0BENCH"
_serial = itertools.count(1)


def one_run(slack: SlackApp, ws: Workspace, double: SlackDouble, size: int) -> tuple[float, float]:
    """(ms until views.open, ms until the filled views.update) for one shortcut use."""
    parent = ws.add_message(CHANNEL, "UASK", "How should we size the staging database cluster?")
    last = parent
    for i in range(1, size):
        who = "UASK" if i % 2 == 0 else "UEXP"
        last = ws.add_message(CHANNEL, who, f"Message {i} of the thread.", thread_ts=parent.ts)
    message = {"user": last.user, "text": last.text, "ts": last.ts}
    if size > 1:
        message["thread_ts"] = parent.ts
    name = f"bench-{next(_serial)}"
    ws.issue_response_url(name, "UCAP", CHANNEL, None)
    payload = message_action_payload(
        "UCAP",
        {"id": CHANNEL, "name": "bench"},
        message,
        callback_id=SHORTCUT,
        trigger_id=ws.issue_trigger("UCAP"),
        response_url=double.response_url(name),
    )
    opened, updated = len(double.calls_to("views.open")), len(double.calls_to("views.update"))
    sent = time.monotonic()
    assert slack.interact(payload).status == 200
    open_at = double.wait_for("views.open", opened + 1)[-1].at
    update_at = double.wait_for("views.update", updated + 1)[-1].at
    return (open_at - sent) * 1000, (update_at - sent) * 1000


def main() -> int:
    """Print p50 and max of both delays per thread size and database."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", default="1,15,60,300")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--databases", default="sqlite")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    print(
        f"{'db':<11}{'messages':>9}{'open p50':>10}{'open max':>10}{'fill p50':>10}{'fill max':>10}"
    )
    for kind in args.databases.split(","):
        with tempfile.TemporaryDirectory() as tmp, migrated_database(kind, Path(tmp)) as db:
            ws = Workspace(bot_user=BOT_USER_ID)
            ws.add_channel(CHANNEL, "bench", members={BOT_USER_ID, "UASK", "UEXP", "UCAP"})
            with SlackDouble(workspace=ws) as double:
                slack = SlackApp(db, double, settings_for(db.url, double))
                try:
                    one_run(slack, ws, double, 2)  # warm-up: Bolt's auth.test, first imports
                    for size in (int(s) for s in args.sizes.split(",")):
                        runs = [one_run(slack, ws, double, size) for _ in range(args.runs)]
                        opens = [r[0] for r in runs]
                        fills = [r[1] for r in runs]
                        print(
                            f"{kind:<11}{size:>9}{statistics.median(opens):>8.1f}ms"
                            f"{max(opens):>8.1f}ms{statistics.median(fills):>8.1f}ms"
                            f"{max(fills):>8.1f}ms"
                        )
                finally:
                    slack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
