"""Assignments: what the bot asked whom, for nudges, daily caps and response rates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
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


def complete_open(
    session: Session,
    contributor: Contributor,
    kind: AssignmentKind,
    *,
    now: datetime,
    example_id: int | None = None,
) -> int:
    """Mark this person's open assignments of `kind` (for `example_id` if given) done."""
    stmt = select(Assignment).where(
        Assignment.contributor_id == contributor.id,
        Assignment.kind == kind,
        Assignment.status == AssignmentStatus.OPEN,
    )
    if example_id is not None:
        stmt = stmt.where(Assignment.example_id == example_id)
    rows = list(session.scalars(stmt))
    for row in rows:
        row.status = AssignmentStatus.DONE
        row.answered_at = now
    session.flush()
    return len(rows)
