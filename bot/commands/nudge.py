"""`crowdtune nudge --dry-run|--send`: who would be asked what, or ask them now."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bot.nudges import NudgePolicy, NudgeReport, plan_nudges, send_nudges
from bot.runtime import Runtime
from bot.slack.client import build_client
from store.db import session_scope


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `nudge` command."""
    p = sub.add_parser("nudge", help="plan (--dry-run) or send (--send) nudges now")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="print the plan; send nothing")
    mode.add_argument("--send", action="store_true", help="send the nudges by Slack DM")
    p.set_defaults(handler=run)


def print_report(report: NudgeReport, *, sent: bool) -> None:
    """One line per person: what was (or would be) asked, or why not."""
    verb = "sent" if sent else "would ask"
    done = report.sent if sent else report.planned
    for n in done:
        what = n.category_slug or f"example {n.example_id}"
        print(f"{n.slack_user_id:<14}{verb:<10}{n.kind.value:<8}{what:<26}{n.local_time}")
    for user, reason in report.skipped.items():
        print(f"{user:<14}{'skipped':<10}{reason}")
    for user, error in report.failed.items():
        print(f"{user:<14}{'failed':<10}{error}")
    print(
        f"{len(done)} {verb}, {len(report.skipped)} skipped, {len(report.failed)} failed",
        file=sys.stderr,
    )


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Plan or send nudges at the current time."""
    now = datetime.now(UTC)
    try:
        policy = NudgePolicy.from_settings(rt.settings)
    except ValueError as exc:
        print(f"crowdtune: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        with session_scope(rt.sessions) as s:
            report = plan_nudges(s, now=now, policy=policy)
        print_report(report, sent=False)
        return 0
    if rt.settings.slack_bot_token is None:
        print("crowdtune: SLACK_BOT_TOKEN is not set; --send needs it", file=sys.stderr)
        return 2
    report = send_nudges(rt.sessions, build_client(rt.settings), now=now, policy=policy)
    print_report(report, sent=True)
    return 0
