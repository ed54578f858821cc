"""Nudges: pick who to ask and what, DM them with buttons, record an Assignment.

`plan_nudges` decides (database only, no Slack); `send_nudges` refreshes time zones with
users.info, plans, and sends. Both take `now`, so the scheduler passes its fire time and
tests need no wall clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.slack.views.nudge import nudge_message
from store.assignments import count_since, open_example_ids, record_assignment
from store.categories import list_categories
from store.contributors import mark_unreachable
from store.db import session_scope
from store.enums import AssignmentKind, AssignmentStatus, ExampleStatus
from store.experts import (
    Affinity,
    expert_first,
    expertise_map,
    interests_map,
    next_for_review_routed,
    suggest_category,
)
from store.models import Category, Contributor, Example
from store.stats import gaps

log = logging.getLogger(__name__)

# Slack errors meaning "this person cannot be reached": recorded, and the person skipped.
# Time zones change rarely: re-read one from Slack after this long.
TZ_MAX_AGE = timedelta(days=7)
UNREACHABLE = frozenset(
    {
        "user_not_found",
        "account_inactive",
        "not_in_channel",
        "channel_not_found",
        "cannot_dm_bot",
        "user_disabled",
        "is_archived",
    }
)


@dataclass(frozen=True)
class NudgePolicy:
    """The rules of nudging: quiet hours (local), a daily cap, expiry, when reviews lag."""

    quiet_start: int = 18
    quiet_end: int = 9
    daily_cap: int = 1
    expiry: timedelta = timedelta(hours=48)
    review_backlog: int = 10
    # When set (by the scheduler, from CROWDTUNE_NUDGE_CRON): is this local time a nudge time?
    local_schedule: Callable[[datetime], bool] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> NudgePolicy:
        """The policy from CROWDTUNE_QUIET_HOURS, _NUDGE_DAILY_CAP, _ASSIGNMENT_EXPIRY_HOURS."""
        start, end = parse_quiet_hours(settings.quiet_hours)
        return cls(
            quiet_start=start,
            quiet_end=end,
            daily_cap=settings.nudge_daily_cap,
            expiry=timedelta(hours=settings.assignment_expiry_hours),
        )

    def is_quiet(self, local: datetime) -> bool:
        """True inside quiet hours; "18-9" wraps midnight, "0-0" means never quiet."""
        h = local.hour
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= h < self.quiet_end
        return h >= self.quiet_start or h < self.quiet_end


def parse_quiet_hours(raw: str) -> tuple[int, int]:
    """ "18-9" → (18, 9); a clear ValueError otherwise."""
    try:
        start_s, end_s = raw.split("-")
        start, end = int(start_s), int(end_s)
    except ValueError:
        raise ValueError(
            f"CROWDTUNE_QUIET_HOURS={raw!r}: write START-END in whole hours, e.g. 18-9"
        ) from None
    if not (0 <= start <= 23 and 0 <= end <= 23):
        raise ValueError(f"CROWDTUNE_QUIET_HOURS={raw!r}: hours are 0 to 23")
    return start, end


@dataclass(frozen=True)
class Nudge:
    """One planned nudge: whom, what, and their local time when planned."""

    contributor_id: int
    slack_user_id: str
    kind: AssignmentKind
    local_time: str
    category_id: int | None = None
    category_slug: str | None = None
    category_name: str | None = None
    gap: int = 0
    example_id: int | None = None


@dataclass
class NudgeReport:
    """What a run planned, sent, skipped (user → reason) and failed (user → Slack error)."""

    planned: list[Nudge] = field(default_factory=list)
    sent: list[Nudge] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def candidates(session: Session, now: datetime) -> list[Contributor]:
    """People who may be nudged at all: opted in, reachable, not snoozed."""
    stmt = (
        select(Contributor)
        .where(Contributor.opted_out.is_(False), Contributor.unreachable_reason.is_(None))
        .where(or_(Contributor.snoozed_until.is_(None), Contributor.snoozed_until <= now))
        .order_by(Contributor.id)
    )
    return list(session.scalars(stmt))


def plan_nudges(session: Session, *, now: datetime, policy: NudgePolicy) -> NudgeReport:
    """Who to ask and what, from the database alone (time zones as stored)."""
    report = NudgeReport()
    remaining = dict(gaps(session))
    cats = {c.slug: c for c in list_categories(session, active_only=True)}
    pending = int(
        session.scalar(
            select(func.count()).select_from(Example).where(Example.status == ExampleStatus.PENDING)
        )
        or 0
    )
    handed = frozenset(open_example_ids(session))
    experts = expertise_map(session)
    interests = interests_map(session)
    lagging = {cats[slug].id for slug, gap in remaining.items() if gap > 0 and slug in cats}
    # Experts of a lagging category are planned first, so its gap goes to them before others.
    for person in expert_first(candidates(session, now), experts, lagging):
        local = now.astimezone(_zone(person.tz))
        stamp = local.strftime("%a %H:%M ") + (person.tz or "UTC")
        if policy.is_quiet(local):
            report.skipped[person.slack_user_id] = f"quiet hours ({stamp})"
            continue
        if policy.local_schedule is not None and not policy.local_schedule(local):
            report.skipped[person.slack_user_id] = f"not their nudge time ({stamp})"
            continue
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if count_since(session, person.id, day_start) >= policy.daily_cap:
            report.skipped[person.slack_user_id] = f"daily cap of {policy.daily_cap} reached"
            continue
        person_affinity = Affinity(
            frozenset(experts.get(person.slack_user_id, ())),
            frozenset(interests.get(person.id, ())),
        )
        nudge = _choose(
            session, person, person_affinity, stamp, remaining, cats, pending, handed, policy
        )
        if nudge is None:
            report.skipped[person.slack_user_id] = "nothing to ask"
            continue
        if nudge.example_id is not None:
            handed = handed | {nudge.example_id}  # one person per example per run
        if nudge.kind == AssignmentKind.WRITE and nudge.category_slug:
            remaining[nudge.category_slug] -= 1  # spread writers over the gaps
        report.planned.append(nudge)
    return report


def _choose(
    session: Session,
    person: Contributor,
    person_affinity: Affinity,
    stamp: str,
    remaining: dict[str, int],
    cats: dict[str, Category],
    pending: int,
    handed: frozenset[int],
    policy: NudgePolicy,
) -> Nudge | None:
    draft = next_for_review_routed(
        session, person, person_affinity, status=ExampleStatus.DRAFT, exclude_ids=handed
    )
    if draft is not None:
        return Nudge(
            person.id,
            person.slack_user_id,
            AssignmentKind.VERIFY,
            stamp,
            example_id=draft.id,
            category_id=draft.category_id,
        )
    review = None
    if pending >= policy.review_backlog:
        review = next_for_review_routed(session, person, person_affinity, exclude_ids=handed)
    if review is not None:
        return Nudge(
            person.id,
            person.slack_user_id,
            AssignmentKind.REVIEW,
            stamp,
            example_id=review.id,
            category_id=review.category_id,
        )
    # Largest remaining gap weighted by the person's expertise and interests; ties go to the
    # category listed first (display order).
    in_order = {slug: remaining[slug] for slug in cats if slug in remaining}
    slug = suggest_category(in_order, {s: c.id for s, c in cats.items()}, person_affinity)
    if slug is None:
        return None
    category, gap = cats[slug], remaining[slug]
    return Nudge(
        person.id,
        person.slack_user_id,
        AssignmentKind.WRITE,
        stamp,
        category_id=category.id,
        category_slug=slug,
        category_name=category.name,
        gap=gap,
    )


def refresh_time_zones(
    sessions: sessionmaker[Session], client: WebClient, *, now: datetime, report: NudgeReport
) -> None:
    """Ask Slack the time zone of candidates whose stored one is unknown or old.

    Slack is called outside any transaction (on SQLite an open write transaction would lock
    the database for every other process meanwhile); the answers are written in one short one.
    """
    with session_scope(sessions) as s:
        due = [
            (p.id, p.slack_user_id)
            for p in candidates(s, now)
            if p.tz_checked_at is None or now - p.tz_checked_at > TZ_MAX_AGE
        ]
    answers: dict[int, tuple[str | None, str | None]] = {}  # id -> (tz, unreachable reason)
    for person_id, user_id in due:
        try:
            user = client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in UNREACHABLE:
                answers[person_id] = (None, error)
                report.failed[user_id] = error
            else:
                log.warning("users.info %s failed: %s", user_id, error)
            continue
        if user.get("deleted"):
            answers[person_id] = (None, "account_inactive")
            report.failed[user_id] = "account_inactive"
        else:
            answers[person_id] = (user.get("tz") or None, None)
    if not answers:
        return
    with session_scope(sessions) as s:
        for person in s.scalars(select(Contributor).where(Contributor.id.in_(answers))):
            tz, reason = answers[person.id]
            if reason is not None:
                mark_unreachable(s, person, reason)
                continue
            if tz:
                person.tz = tz
            person.tz_checked_at = now


def send_nudges(
    sessions: sessionmaker[Session], client: WebClient, *, now: datetime, policy: NudgePolicy
) -> NudgeReport:
    """Refresh time zones, plan, DM each person with buttons, and record an Assignment each."""
    report = NudgeReport()
    refresh_time_zones(sessions, client, now=now, report=report)
    with session_scope(sessions) as s:
        plan = plan_nudges(s, now=now, policy=policy)
    report.planned, report.skipped = plan.planned, {**plan.skipped}
    for nudge in plan.planned:
        _send_one(sessions, client, nudge, now=now, policy=policy, report=report)
    return report


def _send_one(
    sessions: sessionmaker[Session],
    client: WebClient,
    nudge: Nudge,
    *,
    now: datetime,
    policy: NudgePolicy,
    report: NudgeReport,
) -> None:
    text, blocks = nudge_message(
        nudge.kind,
        category_slug=nudge.category_slug,
        category_name=nudge.category_name,
        gap=nudge.gap,
    )
    channel = ts = error = None
    try:
        channel = client.conversations_open(users=nudge.slack_user_id)["channel"]["id"]
        ts = client.chat_postMessage(channel=channel, text=text, blocks=blocks)["ts"]
    except SlackApiError as exc:
        # One person's failure never stops the run (nor makes it retry in a loop).
        error = str(exc.response.get("error"))
        report.failed[nudge.slack_user_id] = error
        log.warning("nudge to %s failed: %s", nudge.slack_user_id, error)
    with session_scope(sessions) as s:
        person = s.get(Contributor, nudge.contributor_id)
        if person is None:
            return
        if error in UNREACHABLE:
            mark_unreachable(s, person, error or "unreachable")
        record_assignment(
            s,
            person,
            nudge.kind,
            now=now,
            expires_at=now + policy.expiry,
            category_id=nudge.category_id,
            example_id=nudge.example_id,
            channel=channel,
            message_ts=ts,
            status=AssignmentStatus.FAILED if error else AssignmentStatus.OPEN,
            error=error,
        )
    if error is None:
        report.sent.append(nudge)
