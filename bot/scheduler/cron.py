"""Cron expressions from settings → APScheduler triggers, and the latest fire before a time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

# Standard cron counts weekdays from Sunday = 0 (7 is Sunday too); APScheduler 3 from Monday.
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_BARE_NUMBER = re.compile(r"(?<![/\d])\d+")


class CronError(ValueError):
    """A cron expression or time zone from settings cannot be used; says what to fix."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a CronError naming the setting to fix."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(
            f"unknown time zone {name!r} (CROWDTUNE_TIMEZONE); use an IANA name like Europe/Paris"
        ) from exc


def _weekdays(field: str) -> str:
    def name(m: re.Match[str]) -> str:
        n = int(m.group(0))
        if n > 7:
            raise CronError(f"day of week {n} is out of range 0-7")
        return _CRON_WEEKDAYS[n]

    return _BARE_NUMBER.sub(name, field)


def cron_trigger(expr: str, tz: ZoneInfo, *, setting: str = "cron") -> CronTrigger:
    """A trigger for a standard 5-field crontab, or 6 fields with seconds first (tests, ops)."""
    fields = expr.split()
    try:
        if len(fields) == 5:
            minute, hour, day, month, dow = fields
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=_weekdays(dow),
                timezone=tz,
            )
        if len(fields) == 6:
            second, minute, hour, day, month, dow = fields
            return CronTrigger(
                second=second,
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=_weekdays(dow),
                timezone=tz,
            )
    except (ValueError, TypeError) as exc:
        raise CronError(f"{setting}: cannot use {expr!r}: {exc}") from exc
    raise CronError(
        f"{setting}: {expr!r} has {len(fields)} fields; expected 5 "
        "(minute hour day month weekday) or 6 (second first)"
    )


def latest_fire(trigger: CronTrigger, now: datetime, window: timedelta) -> datetime | None:
    """The last fire time in (now − window, now], or None: what a restart has to catch up."""
    t: datetime | None = trigger.get_next_fire_time(None, now - window)
    last: datetime | None = None
    while t is not None and t <= now:
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return last
