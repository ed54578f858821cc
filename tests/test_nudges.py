"""Nudges: who is asked what, when not, and what Slack errors do — no wall clock needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.cli import main
from bot.nudges import NudgePolicy, parse_quiet_hours, plan_nudges, send_nudges
from bot.slack.client import build_client
from bot.slack.standin.web_api import SlackDouble
from store.assignments import record_assignment
from store.categories import get_category
from store.contributors import set_opt_out, snooze
from store.enums import AssignmentKind, AssignmentStatus, ExampleStatus, Origin
from store.models import Assignment, Contributor
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_fixtures import blocks_of, button_value
from tests.slack_requests import settings_for

# Tuesday 14:00 UTC: working hours in London and New York, night in Tokyo.
NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
POLICY = NudgePolicy(quiet_start=18, quiet_end=9, daily_cap=1, review_backlog=3)


@pytest.fixture(scope="module")
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def client(db: TestDatabase, double: SlackDouble) -> tuple[WebClient, list[float]]:
    double.reset()
    sleeps: list[float] = []
    return build_client(settings_for(db.url, double), sleep=sleeps.append), sleeps


def _people(db: TestDatabase, *ids: str, tz: str | None = None) -> None:
    with db.session() as s:
        for uid in ids:
            person(s, uid).tz = tz


def test_quiet_hours_parse_and_wrap() -> None:
    assert parse_quiet_hours("18-9") == (18, 9)
    with pytest.raises(ValueError, match="START-END"):
        parse_quiet_hours("evening")
    p = NudgePolicy(quiet_start=18, quiet_end=9)
    assert p.is_quiet(NOW.replace(hour=23)) and p.is_quiet(NOW.replace(hour=8))
    assert not p.is_quiet(NOW.replace(hour=9)) and not p.is_quiet(NOW.replace(hour=17))
    assert not NudgePolicy(quiet_start=0, quiet_end=0).is_quiet(NOW)


def test_plan_skips_opted_out_snoozed_unreachable_quiet_and_capped(db: TestDatabase) -> None:
    with db.session() as s:
        ok = person(s, "UOK")
        ok.tz = "Europe/London"
        set_opt_out(s, person(s, "UOUT"), True)
        snooze(s, person(s, "USNOOZE"), NOW + timedelta(days=1))
        snooze(s, person(s, "UWOKE"), NOW - timedelta(minutes=1))  # snooze is over
        person(s, "UGONE").unreachable_reason = "account_inactive"
        person(s, "UTOKYO").tz = "Asia/Tokyo"  # 23:00 there
        capped = person(s, "UCAP")
        record_assignment(s, capped, AssignmentKind.WRITE, now=NOW - timedelta(hours=2))
        report = plan_nudges(s, now=NOW, policy=POLICY)
    asked = {n.slack_user_id for n in report.planned}
    assert asked == {"UOK", "UWOKE"}
    assert report.skipped["UTOKYO"].startswith("quiet hours (Tue 23:00")
    assert report.skipped["UCAP"] == "daily cap of 1 reached"
    assert {"UOUT", "USNOOZE", "UGONE"}.isdisjoint(report.skipped) and "UOUT" not in asked


def test_daily_cap_counts_the_persons_local_day(db: TestDatabase) -> None:
    with db.session() as s:
        ny = person(s, "UNY")
        ny.tz = "America/New_York"  # 09:00 there; yesterday evening there is still 'yesterday'
        record_assignment(s, ny, AssignmentKind.WRITE, now=NOW - timedelta(hours=10))
        report = plan_nudges(s, now=NOW, policy=POLICY)
    assert [n.slack_user_id for n in report.planned] == ["UNY"]


def test_writers_are_spread_over_the_largest_gaps(db: TestDatabase) -> None:
    _people(db, "U1", "U2", "U3")
    with db.session() as s:
        for slug in (
            "open_qa",
            "closed_qa",
            "summarization",
            "brainstorming",
            "information_extraction",
            "classification",
            "creative_writing",
            "general_qa",
        ):
            get_category(s, slug).target = 0
        get_category(s, "summarization").target = 10
        get_category(s, "brainstorming").target = 9
        report = plan_nudges(s, now=NOW, policy=POLICY)
    asked = [(n.kind, n.category_slug) for n in report.planned]
    assert asked == [
        (AssignmentKind.WRITE, "summarization"),
        (AssignmentKind.WRITE, "summarization"),
        (AssignmentKind.WRITE, "brainstorming"),
    ]


def test_reviews_when_they_lag_and_drafts_first(db: TestDatabase) -> None:
    with db.session() as s:
        author = person(s, "UAUTHOR")
        author.opted_out = True
        pending = [example(s, author).id for _ in range(3)]  # backlog of 3 = POLICY's threshold
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM).id
        person(s, "UR1"), person(s, "UR2"), person(s, "UR3")
        report = plan_nudges(s, now=NOW, policy=POLICY)
    kinds = [(n.slack_user_id, n.kind, n.example_id) for n in report.planned]
    assert kinds[0] == ("UR1", AssignmentKind.VERIFY, draft)
    assert kinds[1] == ("UR2", AssignmentKind.REVIEW, pending[0])
    assert kinds[2] == ("UR3", AssignmentKind.REVIEW, pending[1])  # never the same example twice


def test_send_dms_with_buttons_and_records_assignments(
    db: TestDatabase, double: SlackDouble, client: tuple[WebClient, list[float]]
) -> None:
    _people(db, "UANN", "UBEN")
    double.add_user("UANN", tz="Europe/Paris", tz_offset=3600)
    double.add_user("UBEN", tz="Asia/Tokyo", tz_offset=32400)  # 23:00: quiet
    report = send_nudges(db.sessions, client[0], now=NOW, policy=POLICY)
    assert [n.slack_user_id for n in report.sent] == ["UANN"]
    assert "quiet hours" in report.skipped["UBEN"]
    assert double.last("conversations.open").args["users"] == "UANN"
    post = double.last("chat.postMessage")
    assert post.args["channel"] == "DUANN"
    blocks = blocks_of(post.args)
    assert button_value(blocks, "open_write") == "open_qa" and button_value(blocks, "snooze")
    with db.session() as s:
        a = s.scalars(select(Assignment)).one()
        assert (a.kind, a.status, a.channel) == (
            AssignmentKind.WRITE,
            AssignmentStatus.OPEN,
            "DUANN",
        )
        assert a.message_ts == post.reply["ts"] and a.expires_at == NOW + POLICY.expiry
        tz = {c.slack_user_id: c.tz for c in s.scalars(select(Contributor))}
        assert tz == {"UANN": "Europe/Paris", "UBEN": "Asia/Tokyo"}
    # The same run again: the daily cap holds.
    again = send_nudges(db.sessions, client[0], now=NOW + timedelta(minutes=5), policy=POLICY)
    assert not again.sent and again.skipped["UANN"] == "daily cap of 1 reached"


def test_unreachable_people_are_recorded_and_skipped(
    db: TestDatabase, double: SlackDouble, client: tuple[WebClient, list[float]]
) -> None:
    _people(db, "UGHOST", "UINACTIVE", "UFINE")
    double.add_user("UINACTIVE")
    double.add_user("UFINE")
    # UGHOST is unknown to Slack (users.info: user_not_found); UINACTIVE's DM fails.
    double.fail("conversations.open", "account_inactive", match=lambda a: a["users"] == "UINACTIVE")
    report = send_nudges(db.sessions, client[0], now=NOW, policy=POLICY)
    assert [n.slack_user_id for n in report.sent] == ["UFINE"]
    assert report.failed == {"UGHOST": "user_not_found", "UINACTIVE": "account_inactive"}
    with db.session() as s:
        why = {c.slack_user_id: c.unreachable_reason for c in s.scalars(select(Contributor))}
        failed = s.scalars(
            select(Assignment).where(Assignment.status == AssignmentStatus.FAILED)
        ).one()
        assert failed.error == "account_inactive"
    assert why == {"UGHOST": "user_not_found", "UINACTIVE": "account_inactive", "UFINE": None}
    # Next run: nobody unreachable is tried again (no crash loop).
    double.reset()
    double.add_user("UFINE")
    later = send_nudges(db.sessions, client[0], now=NOW + timedelta(days=1), policy=POLICY)
    assert [n.slack_user_id for n in later.sent] == ["UFINE"]
    # UFINE's time zone was read a day ago, so Slack is not asked again yet.
    assert double.calls_to("users.info") == []
    # A week later it is re-read, still only for the reachable person.
    send_nudges(db.sessions, client[0], now=NOW + timedelta(days=8), policy=POLICY)
    assert [c.args.get("user") for c in double.calls_to("users.info")] == ["UFINE"]


def test_rate_limited_sends_wait_and_retry(
    db: TestDatabase, double: SlackDouble, client: tuple[WebClient, list[float]]
) -> None:
    _people(db, "UANN")
    double.add_user("UANN")
    double.throttle("chat.postMessage", retry_after=2, times=2)
    report = send_nudges(db.sessions, client[0], now=NOW, policy=POLICY)
    assert [n.slack_user_id for n in report.sent] == ["UANN"]
    assert client[1] == [2.0, 2.0]
    assert [c.status for c in double.calls_to("chat.postMessage")] == [429, 429, 200]


def test_cli_dry_run_prints_the_plan(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _people(db, "UANN", tz="Europe/London")
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_QUIET_HOURS", "0-0")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["nudge", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "UANN" in out.out and "would ask" in out.out and "write" in out.out
    assert "1 would ask, 0 skipped, 0 failed" in out.err
    assert main(["nudge", "--send"]) == 2
    assert "SLACK_BOT_TOKEN is not set" in capsys.readouterr().err
