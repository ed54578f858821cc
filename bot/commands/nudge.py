"""`crowdtune nudge --dry-run|--send`: who would be asked what, or ask them now."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from store.db import session_scope
from store.models import Contributor

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.nudges import NudgeReport
    from bot.runtime import Runtime


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


def nobody_to_ask(session: Session, report: NudgeReport, now: datetime) -> str:
    """Why a plan asks nobody: no contributors yet, or how many are out for which reason."""
    people = list(session.scalars(select(Contributor)))
    if not people:
        return (
            "nobody to nudge: there are no contributors yet; people appear when they first "
            "use the bot (/crowdtune, its App Home or a DM to it)"
        )
    reasons: Counter[str] = Counter()
    for person in people:
        if person.opted_out:
            reasons["opted out"] += 1
        elif person.unreachable_reason is not None:
            reasons["unreachable"] += 1
        elif person.snoozed_until is not None and person.snoozed_until > now:
            reasons["snoozed"] += 1
    for why in report.skipped.values():
        # "quiet hours (Mon 22:00 UTC)" -> "quiet hours": counts, not one line per person
        reasons[why.split(" (")[0]] += 1
    parts = ", ".join(f"{n} {why}" for why, n in reasons.most_common())
    return f"nobody to nudge now: {len(people)} contributor(s): {parts}"


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Plan or send nudges at the current time."""
    # The planner and Slack's client load when the command runs (see bot/cli.py).
    from bot.nudges import NudgePolicy, plan_nudges, send_nudges
    from bot.slack.client import build_client

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
        if not report.planned:
            with session_scope(rt.sessions) as s:
                print(nobody_to_ask(s, report, now))
        return 0
    if rt.settings.slack_bot_token is None:
        print("crowdtune: SLACK_BOT_TOKEN is not set; --send needs it", file=sys.stderr)
        return 2
    report = send_nudges(rt.sessions, build_client(rt.settings), now=now, policy=policy)
    print_report(report, sent=True)
    return 0
