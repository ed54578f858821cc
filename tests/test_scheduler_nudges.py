"""The nudge job: hourly fires, each person nudged in their own local nudge hour, once a day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from bot.scheduler.claims import ClaimedRunner
from bot.scheduler.nudging import local_schedule
from bot.scheduler.wiring import production_specs
from bot.slack.standin.web_api import SlackDouble
from store.models import Assignment, Contributor
from tests.dbs import TestDatabase
from tests.factories import person
from tests.slack_requests import settings_for

MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
ZONES = {
    "UPARIS": "Europe/Paris",  # 10:00 local = 09:00 UTC in November
    "UNYC": "America/New_York",  # 10:00 local = 15:00 UTC
    "UTOKYO": "Asia/Tokyo",  # 10:00 local = 01:00 UTC
    "UDELHI": "Asia/Kolkata",  # 10:00 local = 04:30 UTC: the 05:00 UTC fire (10:30 local)
}


@pytest.fixture
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


def test_local_schedule_matches_the_local_hour_on_weekdays() -> None:
    at_ten = local_schedule("0 10 * * mon-fri")
    paris = ZoneInfo("Europe/Paris")
    assert at_ten(datetime(2026, 11, 23, 10, 0, tzinfo=paris))  # Monday
    assert at_ten(datetime(2026, 11, 23, 10, 30, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert not at_ten(datetime(2026, 11, 23, 9, 0, tzinfo=paris))
    assert not at_ten(datetime(2026, 11, 23, 11, 0, tzinfo=paris))
    assert not at_ten(datetime(2026, 11, 28, 10, 0, tzinfo=paris))  # Saturday


def test_hourly_fires_nudge_each_person_at_ten_local_once(
    db: TestDatabase, double: SlackDouble
) -> None:
    with db.session() as s:
        for uid, tz in ZONES.items():
            person(s, uid).tz = tz
    for uid, tz in ZONES.items():
        double.add_user(uid, tz=tz)
    rt = Runtime(settings_for(db.url, double, quiet_hours="18-9"), _engine=db.engine)
    specs = {spec.name: spec for spec in production_specs(rt.settings, rt)}
    runner = ClaimedRunner(db.sessions, "W", jobs={"nudges": specs["nudges"].fn})
    # Every hourly fire of a Monday, as the worker would run them (trigger from settings).
    trig = specs["nudges"].trigger
    fire = trig.get_next_fire_time(None, MONDAY)
    sent_at: dict[str, datetime] = {}
    while fire < MONDAY + timedelta(days=1):
        before = len(double.calls_to("chat.postMessage", ok_only=True))
        assert runner.run_fire("nudges", scheduled_at=fire) == "succeeded"
        for call in double.calls_to("chat.postMessage", ok_only=True)[before:]:
            sent_at[call.args["channel"][1:]] = fire  # conversations.open gives D + user id
        fire = trig.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert sent_at == {
        "UTOKYO": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        "UDELHI": datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
        "UPARIS": datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        "UNYC": datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
    }
    with db.session() as s:
        per_person = {
            c.slack_user_id: n
            for c, n in (
                (s.get(Contributor, cid), n)
                for cid, n in _counts(s.scalars(select(Assignment.contributor_id)).all())
            )
            if c is not None
        }
    assert per_person == dict.fromkeys(ZONES, 1)


def _counts(ids: list[int]) -> list[tuple[int, int]]:
    out: dict[int, int] = {}
    for i in ids:
        out[i] = out.get(i, 0) + 1
    return list(out.items())
