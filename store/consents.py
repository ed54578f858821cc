"""Consent of the people a captured example quotes: asking, answering, expiring, withdrawing.

A captured example quotes people's Slack messages. Until every quoted author (other than the
person who captured it) allows, it is `awaiting_consent`: review, generators and exports read
only other statuses, so nobody sees it and no LLM or dataset gets it. A decline, or no answer
within the consent window, withdraws the capture: every quoted text is deleted (from the
example, its turns and the consent rows), while who was asked, when, and what they answered
stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.enums import ConsentStatus, ExampleStatus
from store.errors import Conflict, NotFound, PermissionDenied
from store.examples import QualityGate
from store.models import Consent, Contributor, Example
from store.validation import content_hash

DEFAULT_CONSENT_DAYS = 7
DECLINED_FLAG = "consent_declined"
EXPIRED_FLAG = "consent_expired"
SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Quote:
    """Text of one Slack author that a captured example holds, and where (a field or turn_N)."""

    author: str
    field: str
    text: str


@dataclass(frozen=True)
class ConsentAnswer:
    """What one answer did: the consent, and the example's status afterwards."""

    consent_id: int
    example_id: int
    status: ConsentStatus
    example_status: ExampleStatus
    capturer: str | None  # Slack id of who captured it, to tell them the outcome
    withdrew: bool = False  # this answer (a decline) withdrew the example


def quoted_texts(quotes: Sequence[Quote]) -> dict[str, str]:
    """Author -> exactly the texts of theirs the example holds (in order, each once)."""
    out: dict[str, list[str]] = {}
    for q in quotes:
        texts = out.setdefault(q.author, [])
        if q.text.strip() and q.text.strip() not in texts:
            texts.append(q.text.strip())
    return {author: SEPARATOR.join(texts) for author, texts in out.items() if texts}


def opted_out_among(session: Session, team_id: str, authors: Sequence[str]) -> set[str]:
    """Which of these Slack users opted out of crowdtune (they are never quoted)."""
    if not authors:
        return set()
    return set(
        session.scalars(
            select(Contributor.slack_user_id).where(
                Contributor.team_id == team_id,
                Contributor.slack_user_id.in_(set(authors)),
                Contributor.opted_out.is_(True),
            )
        )
    )


def ask(
    session: Session, example: Example, quotes: Sequence[Quote], *, capturer: str, now: datetime
) -> list[Consent]:
    """One consent request per quoted author other than `capturer`; the example awaits consent
    while any is open, else it goes to review (pending)."""
    asked = [
        Consent(example_id=example.id, slack_user_id=author, quoted_text=text, asked_at=now)
        for author, text in quoted_texts(quotes).items()
        if author != capturer
    ]
    session.add_all(asked)
    example.status = ExampleStatus.AWAITING_CONSENT if asked else ExampleStatus.PENDING
    session.flush()
    return asked


def record_dm(session: Session, consent_id: int, channel: str, ts: str) -> None:
    """Remember the DM that asked, so the answer (or the expiry) can update it."""
    consent = session.get(Consent, consent_id)
    if consent is not None:
        consent.dm_channel, consent.dm_ts = channel, ts


def answer(
    session: Session,
    consent_id: int,
    slack_user_id: str,
    *,
    allow: bool,
    now: datetime,
    gate: QualityGate | None = None,
) -> ConsentAnswer:
    """Record a quoted author's Allow or Decline. All allowed: the example goes to review; a
    decline withdraws it (its quoted text deleted). Only the person asked may answer, once."""
    consent = session.get(Consent, consent_id, with_for_update=True)
    if consent is None:
        raise NotFound("This request is no longer open.", code="consent_gone")
    if consent.slack_user_id != slack_user_id:
        raise PermissionDenied("This request was sent to someone else.")
    if consent.status != ConsentStatus.ASKED:
        raise Conflict(
            f"You already answered this request ({consent.status.value}).", code="consent_answered"
        )
    example = session.get(Example, consent.example_id, with_for_update=True)
    if example is None:  # cascade removes consents with their example; a race at most
        raise NotFound("This example no longer exists.", code="consent_gone")
    consent.status = ConsentStatus.ALLOWED if allow else ConsentStatus.DECLINED
    consent.answered_at = now
    withdrew = not allow and example.status == ExampleStatus.AWAITING_CONSENT
    if withdrew:
        withdraw(session, example, DECLINED_FLAG, gate=gate)
    elif example.status == ExampleStatus.AWAITING_CONSENT and not _open(session, example.id):
        example.status = ExampleStatus.PENDING
    session.flush()
    return ConsentAnswer(
        consent.id,
        example.id,
        consent.status,
        example.status,
        _capturer(session, example),
        withdrew,
    )


def _open(session: Session, example_id: int) -> bool:
    return (
        session.scalar(
            select(Consent.id)
            .where(Consent.example_id == example_id, Consent.status != ConsentStatus.ALLOWED)
            .limit(1)
        )
        is not None
    )


def _capturer(session: Session, example: Example) -> str | None:
    author = session.get(Contributor, example.author_id) if example.author_id else None
    return author.slack_user_id if author else None


def withdraw(
    session: Session, example: Example, flag: str, *, gate: QualityGate | None = None
) -> None:
    """Delete every quoted text of a capture (example fields, turns, consent copies) and take
    it out of the running (rejected, flagged why); the consent records stay."""
    example.instruction = example.context = example.response = ""
    example.turns.clear()
    example.content_hash = content_hash("", "", "")
    example.status = ExampleStatus.REJECTED
    example.decided_at = None
    example.flags = [*(example.flags or []), flag]
    for consent in session.scalars(select(Consent).where(Consent.example_id == example.id)):
        consent.quoted_text = ""
    session.flush()
    if gate is not None:
        gate.added(example)  # the index forgets the old text


@dataclass(frozen=True)
class Expired:
    """A consent request that ran out: whom to tell (their DM) and which example went."""

    example_id: int
    slack_user_id: str
    dm_channel: str | None
    dm_ts: str | None


def expire(
    session: Session,
    *,
    now: datetime,
    days: int = DEFAULT_CONSENT_DAYS,
    gate: QualityGate | None = None,
) -> list[Expired]:
    """Requests unanswered for `days`: expired (a decline), and their examples withdrawn."""
    cutoff = now - timedelta(days=days)
    stale = list(
        session.scalars(
            select(Consent)
            .where(Consent.status == ConsentStatus.ASKED, Consent.asked_at <= cutoff)
            .order_by(Consent.id)
            .with_for_update(skip_locked=True)
        )
    )
    out: list[Expired] = []
    withdrawn: set[int] = set()
    for consent in stale:
        consent.status, consent.answered_at = ConsentStatus.EXPIRED, now
        out.append(
            Expired(consent.example_id, consent.slack_user_id, consent.dm_channel, consent.dm_ts)
        )
        if consent.example_id in withdrawn:
            continue
        example = session.get(Example, consent.example_id)
        if example is not None and example.status == ExampleStatus.AWAITING_CONSENT:
            withdraw(session, example, EXPIRED_FLAG, gate=gate)
            withdrawn.add(example.id)
    session.flush()
    return out


def consents_of(session: Session, example_id: int) -> list[Consent]:
    """An example's consent requests, in the order they were made."""
    return list(
        session.scalars(
            select(Consent).where(Consent.example_id == example_id).order_by(Consent.id)
        )
    )
