"""`crowdtune report`: reviewer agreement and the sourcing methods compared, as HTML and JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from store.choices import REPORT_SAMPLE as DEFAULT_SAMPLE
from store.db import session_scope

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from store.report import Report


def since_date(value: str) -> datetime:
    """A YYYY-MM-DD date as the start of that UTC day (argparse type)."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-30") from exc
    return day.replace(tzinfo=UTC)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `report` command."""
    p = sub.add_parser(
        "report", help="reviewer agreement and sourcing methods compared (HTML and JSON)"
    )
    p.add_argument(
        "--out", type=Path, help="HTML file to write (default report.html unless --json)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument(
        "--since", type=since_date, help="only examples created and reviews given from DATE on"
    )
    p.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        help=f"accepted examples per origin for the diversity figures (default {DEFAULT_SAMPLE})",
    )
    p.set_defaults(handler=run)


def make_report(rt: Runtime, *, since: datetime | None, sample: int = DEFAULT_SAMPLE) -> Report:
    """Build the report from DATABASE_URL with the configured token prices."""
    from store.report import build_report

    with session_scope(rt.sessions) as s:
        return build_report(s, since=since, prices=rt.settings.token_prices, sample=sample)


def slack_reporter(rt: Runtime) -> Callable[[], Report]:
    """The `/crowdtune report` runner for the Slack app: every figure, all time."""

    def run_from_slack() -> Report:
        return make_report(rt, since=None)

    return run_from_slack


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Write the HTML page and/or print the JSON."""
    from exporters.report_html import write_html  # matplotlib: loaded only to draw the page

    report = make_report(rt, since=args.since, sample=max(1, args.sample))
    out = args.out if args.out is not None or args.json else Path("report.html")
    if out is not None:
        path = write_html(report, out)
        # With --json the JSON owns stdout, so it stays parseable.
        print(f"report written to {path}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0
