"""Captured examples: a Slack thread turned into an example, with where it came from and the
quoted authors' consent asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.consents import Quote, ask, opted_out_among
from store.conversations import Turn
from store.enums import ExampleStatus, Origin
from store.errors import ValidationFailed
from store.examples import PairText, QualityGate, submit_example
from store.models import Capture, Category, Consent, Contributor, Example

OPTED_OUT = "{who} opted out of crowdtune, so their words cannot be quoted: remove them."


@dataclass(frozen=True)
class Source:
    """Where in Slack the captured text came from."""

    team_id: str
    channel_id: str
    message_ts: str
    thread_ts: str | None
    permalink: str | None
    anonymised: bool = False


@dataclass(frozen=True)
class Captured:
    """The stored example and the consent requests to send (none: it went to review)."""

    example: Example
    consents: list[Consent]


def capture_example(
    session: Session,
    *,
    category: Category,
    text: PairText,
    turns: Sequence[Turn] | None,
    quotes: Sequence[Quote],
    capturer: Contributor,
    source: Source,
    now: datetime,
    gate: QualityGate | None = None,
    confirmed: bool = False,
    started_at: datetime | None = None,
) -> Captured:
    """Store a captured example (a pair, or a conversation when `turns`) through the same
    checks as a written one, with its Capture row and one consent request per quoted author.

    Raises ValidationFailed naming the field of an author who opted out (never quoted), and
    whatever submit_example raises (ValidationFailed, NeedsConfirmation).
    """
    quoted = [q for q in quotes if q.text.strip()]
    refused = opted_out_among(session, source.team_id, [q.author for q in quoted])
    if refused:
        errors: dict[str, str] = {}
        for q in quoted:
            if q.author in refused:
                errors.setdefault(q.field, OPTED_OUT.format(who="The author of this text"))
        raise ValidationFailed(errors)
    example = submit_example(
        session,
        category=category,
        text=text,
        author=capturer,
        origin=Origin.CAPTURED,
        # Awaiting consent from the first flush: never one moment reviewable.
        status=ExampleStatus.AWAITING_CONSENT,
        gate=gate,
        confirmed=confirmed,
        started_at=started_at,
        turns=turns,
    )
    session.add(
        Capture(
            example_id=example.id,
            team_id=source.team_id,
            channel_id=source.channel_id,
            message_ts=source.message_ts,
            thread_ts=source.thread_ts,
            permalink=source.permalink,
            captured_by_id=capturer.id,
            anonymised=source.anonymised,
            created_at=now,
        )
    )
    asked = ask(session, example, quoted, capturer=capturer.slack_user_id, now=now)
    return Captured(example, asked)


def capture_of(session: Session, example_id: int) -> Capture | None:
    """Where an example was captured from, if it was."""
    return session.scalar(select(Capture).where(Capture.example_id == example_id))
