"""The nudge job's collaborator: the bot's `send_nudges`, limited to each person's nudge time.

The worker fires hourly; a person is nudged in the run whose hour, in their own time zone,
contains a fire of CROWDTUNE_NUDGE_CRON (weekdays 10:00 by default). Matching the whole local
hour, not the minute, keeps half-hour zones (India, Newfoundland) from never matching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.nudges import NudgePolicy, NudgeReport, send_nudges
from bot.scheduler.cron import cron_trigger


def local_schedule(nudge_cron: str) -> Callable[[datetime], bool]:
    """A test of a local time: does `nudge_cron`, read in that time zone, fire in its hour?"""
    cron_trigger(nudge_cron, ZoneInfo("UTC"), setting="CROWDTUNE_NUDGE_CRON")  # fail early
    triggers: dict[str, CronTrigger] = {}

    def matches(local: datetime) -> bool:
        tz: tzinfo | None = local.tzinfo
        key = str(tz)
        trig = triggers.get(key)
        if trig is None:
            zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")
            trig = triggers[key] = cron_trigger(nudge_cron, zone, setting="CROWDTUNE_NUDGE_CRON")
        hour = local.replace(minute=0, second=0, microsecond=0)
        nxt = trig.get_next_fire_time(None, hour)
        return nxt is not None and nxt < hour + timedelta(hours=1)

    return matches


def summarize(report: NudgeReport) -> dict[str, Any]:
    """The job_runs result of a nudge run: counts, and why people were skipped."""
    reasons: dict[str, int] = {}
    for why in report.skipped.values():
        key = why.split(" (", 1)[0]
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "planned": len(report.planned),
        "sent": len(report.sent),
        "failed": len(report.failed),
        "not_nudged": reasons,
    }


def nudge_sender(
    sessions: sessionmaker[Session], client: WebClient, policy: NudgePolicy, nudge_cron: str
) -> Callable[[datetime], Mapping[str, Any]]:
    """`send_nudges` at the fire time, for the people whose local nudge time it is."""
    scheduled = NudgePolicy(
        quiet_start=policy.quiet_start,
        quiet_end=policy.quiet_end,
        daily_cap=policy.daily_cap,
        expiry=policy.expiry,
        review_backlog=policy.review_backlog,
        local_schedule=local_schedule(nudge_cron),
    )

    def send(now: datetime) -> Mapping[str, Any]:
        return summarize(send_nudges(sessions, client, now=now, policy=scheduled))

    return send
