"""Contributors: created on first contact, roles, opt-out, snooze, reachability."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.enums import Role
from store.errors import NotFound
from store.models import Contributor
from store.types import utcnow


def get_or_create_contributor(
    session: Session,
    team_id: str,
    slack_user_id: str,
    *,
    display_name: str | None = None,
    tz: str | None = None,
) -> Contributor:
    """The contributor for this Slack user, created on first contact (race-safe)."""
    stmt = select(Contributor).where(
        Contributor.team_id == team_id, Contributor.slack_user_id == slack_user_id
    )
    found = session.scalar(stmt)
    if found is None:
        try:
            with session.begin_nested():
                found = Contributor(
                    team_id=team_id,
                    slack_user_id=slack_user_id,
                    display_name=display_name or "",
                    tz=tz,
                    consent_at=utcnow(),
                )
                session.add(found)
        except IntegrityError:
            # Another request created the same person between our SELECT and INSERT.
            found = session.scalars(stmt).one()
    if display_name and found.display_name != display_name:
        found.display_name = display_name
    if tz and found.tz != tz:
        found.tz = tz
    session.flush()
    return found


def find_contributor(session: Session, team_id: str, slack_user_id: str) -> Contributor:
    """The contributor for this Slack user, or NotFound."""
    found = session.scalar(
        select(Contributor).where(
            Contributor.team_id == team_id, Contributor.slack_user_id == slack_user_id
        )
    )
    if found is None:
        raise NotFound(f"no contributor {slack_user_id} in team {team_id}")
    return found


def set_opt_out(session: Session, contributor: Contributor, opted_out: bool) -> None:
    """Stop (or resume) nudges for this person; they can still contribute on their own."""
    contributor.opted_out = opted_out
    contributor.opted_out_at = utcnow() if opted_out else None
    if not opted_out:
        contributor.consent_at = utcnow()
    session.flush()


def snooze(session: Session, contributor: Contributor, until: datetime) -> None:
    """No nudges for this person until the given time."""
    contributor.snoozed_until = until
    session.flush()


def set_role(session: Session, contributor: Contributor, role: Role) -> None:
    """Make a contributor an admin, or back to a contributor."""
    contributor.role = role
    session.flush()


def mark_unreachable(session: Session, contributor: Contributor, reason: str) -> None:
    """Record that Slack cannot reach this person, so nudges skip them."""
    contributor.unreachable_reason = reason
    contributor.unreachable_at = utcnow()
    session.flush()


def is_admin(contributor: Contributor, admin_user_ids: frozenset[str] = frozenset()) -> bool:
    """Admins are named in configuration or hold the admin role in the store."""
    return contributor.role == Role.ADMIN or contributor.slack_user_id in admin_user_ids
