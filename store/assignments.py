"""Assignments: what the bot asked whom, for nudges, daily caps, expiry and response rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from store.enums import AssignmentKind, AssignmentStatus
from store.models import Assignment, Contributor


def record_assignment(
    session: Session,
    contributor: Contributor,
    kind: AssignmentKind,
    *,
    now: datetime,
    expires_at: datetime | None = None,
    category_id: int | None = None,
    example_id: int | None = None,
    channel: str | None = None,
    message_ts: str | None = None,
    status: AssignmentStatus = AssignmentStatus.OPEN,
    error: str | None = None,
) -> Assignment:
    """Store one thing the bot asked of a person (or failed to ask, with the error)."""
    row = Assignment(
        contributor_id=contributor.id,
        kind=kind,
        status=status,
        category_id=category_id,
        example_id=example_id,
        created_at=now,
        expires_at=expires_at,
        channel=channel,
        message_ts=message_ts,
        error=error,
    )
    session.add(row)
    session.flush()
    return row


def count_since(session: Session, contributor_id: int, since: datetime) -> int:
    """Assignments made to this person since `since` (failed attempts excluded)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.contributor_id == contributor_id,
                Assignment.created_at >= since,
                Assignment.status != AssignmentStatus.FAILED,
            )
        )
        or 0
    )


def open_example_ids(session: Session) -> set[int]:
    """Examples already handed to someone in an open assignment (not to hand out twice)."""
    ids = session.scalars(
        select(Assignment.example_id).where(
            Assignment.status == AssignmentStatus.OPEN, Assignment.example_id.is_not(None)
        )
    ).all()
    return {i for i in ids if i is not None}


# Built once (it runs inside the ack of every review and submission): one UPDATE, no rows
# loaded, for any example or for one.
_COMPLETE_ANY = (
    update(Assignment)
    .where(
        Assignment.contributor_id == bindparam("who"),
        Assignment.kind == bindparam("of_kind"),
        Assignment.status == AssignmentStatus.OPEN,
    )
    .values(status=bindparam("to_status"), answered_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_COMPLETE_ONE = _COMPLETE_ANY.where(Assignment.example_id == bindparam("for_example"))


def complete_open(
    session: Session,
    contributor: Contributor,
    kind: AssignmentKind,
    *,
    now: datetime,
    example_id: int | None = None,
    status: AssignmentStatus = AssignmentStatus.DONE,
) -> int:
    """Close this person's open assignments of `kind` (for `example_id` if given) as `status`
    (done, or skipped)."""
    # (Bound names differ from the columns': an UPDATE reserves those for its SET clause.)
    params = {"who": contributor.id, "of_kind": kind, "to_status": status, "at": now}
    if example_id is None:
        result = session.execute(_COMPLETE_ANY, params)
    else:
        result = session.execute(_COMPLETE_ONE, {**params, "for_example": example_id})
    return int(getattr(result, "rowcount", 0) or 0)


def expire_assignments(session: Session, *, now: datetime, default_hours: int) -> list[int]:
    """Close open assignments past `expires_at` (or `created_at` + hours when unset).

    Expired assignments no longer hold their example, so it goes back to the pool. Returns the
    ids closed; running it twice closes nothing the second time.
    """
    overdue = or_(
        and_(Assignment.expires_at.is_not(None), Assignment.expires_at <= now),
        and_(
            Assignment.expires_at.is_(None),
            Assignment.created_at <= now - timedelta(hours=default_hours),
        ),
    )
    ids = list(
        session.scalars(
            select(Assignment.id)
            .where(Assignment.status == AssignmentStatus.OPEN, overdue)
            .order_by(Assignment.id)
        )
    )
    if ids:
        # Conditional on still being open: an answer that lands meanwhile is not overwritten.
        session.execute(
            update(Assignment)
            .where(Assignment.id.in_(ids), Assignment.status == AssignmentStatus.OPEN)
            .values(status=AssignmentStatus.EXPIRED)
            .execution_options(synchronize_session=False)
        )
    return ids


@dataclass(frozen=True)
class ResponseRate:
    """Assignments of one kind made in a period, and how many were answered."""

    kind: str
    asked: int
    answered: int
    expired: int
    skipped: int

    @property
    def rate(self) -> float:
        """Answered / asked (0 when nothing was asked)."""
        return self.answered / self.asked if self.asked else 0.0


def response_rates(session: Session, *, since: datetime, until: datetime) -> list[ResponseRate]:
    """Per kind, assignments created in [since, until) and what came of them (failed excluded)."""
    rows = session.execute(
        select(Assignment.kind, Assignment.status, func.count())
        .where(Assignment.created_at >= since, Assignment.created_at < until)
        .where(Assignment.status != AssignmentStatus.FAILED)
        .group_by(Assignment.kind, Assignment.status)
    ).all()
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        by_kind.setdefault(AssignmentKind(kind).value, {})[AssignmentStatus(status).value] = int(n)
    out = []
    for kind in AssignmentKind:
        counts = by_kind.get(kind.value, {})
        out.append(
            ResponseRate(
                kind=kind.value,
                asked=sum(counts.values()),
                answered=counts.get(AssignmentStatus.DONE.value, 0),
                expired=counts.get(AssignmentStatus.EXPIRED.value, 0),
                skipped=counts.get(AssignmentStatus.SKIPPED.value, 0),
            )
        )
    return out
