"""`crowdtune serve`: run the Slack bot (Socket Mode or HTTP)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` command."""
    p = sub.add_parser(
        "serve", help="run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on $PORT)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="HTTP mode: gunicorn worker processes",
    )
    p.add_argument("--threads", type=int, default=8, help="HTTP mode: threads per process")
    # Missing or refused Slack settings are named before the database is looked at.
    p.set_defaults(handler=run, needs_schema="none")


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Serve until stopped; a missing setting is one clear line and exit status 2."""
    from bot.serve import SettingMissing, serve  # slack_bolt and the app: only to serve

    try:
        serve(rt, workers=args.workers, threads=args.threads)
    except SettingMissing as exc:
        print(f"crowdtune: {exc}", file=sys.stderr)
        return 2
    return 0
