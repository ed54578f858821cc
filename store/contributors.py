"""Contributors: created on first contact, roles, opt-out, snooze, reachability."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from store.enums import Role
from store.errors import NotFound
from store.inserts import InsertNew
from store.models import Contributor
from store.types import utcnow

# Built once: every Slack request looks its sender up (constructing and cache-keying the
# select cost more Python than running it).
_BY_SLACK_ID = select(Contributor).where(
    Contributor.team_id == bindparam("team_id"),
    Contributor.slack_user_id == bindparam("slack_user_id"),
)
# The whole row comes back, so the new person needs no second SELECT.
_COLUMNS = [attr.key for attr in sa_inspect(Contributor).column_attrs]
_NEW = InsertNew(Contributor, ["team_id", "slack_user_id"], _COLUMNS)


def get_or_create_contributor(
    session: Session,
    team_id: str,
    slack_user_id: str,
    *,
    display_name: str | None = None,
    tz: str | None = None,
) -> Contributor:
    """The contributor for this Slack user, created on first contact (race-safe)."""
    key = {"team_id": team_id, "slack_user_id": slack_user_id}
    found = session.scalar(_BY_SLACK_ID, key)
    if found is None:
        # Stored unless another request created the same person meanwhile (then theirs is
        # read: on PostgreSQL the insert waits for that transaction to end).
        row = _NEW.run(
            session,
            {**key, "display_name": display_name or "", "tz": tz, "consent_at": utcnow()},
        )
        if row is None:
            found = session.scalars(_BY_SLACK_ID, key).one()
        else:
            found = Contributor(**row._asdict())
            # Its row is exactly these values: the session takes it as loaded.
            make_transient_to_detached(found)
            session.add(found)
    changed = False
    if display_name and found.display_name != display_name:
        found.display_name, changed = display_name, True
    if tz and found.tz != tz:
        found.tz, changed = tz, True
    if changed:
        session.flush()
    return found


def find_contributor(session: Session, team_id: str, slack_user_id: str) -> Contributor:
    """The contributor for this Slack user, or NotFound."""
    found = session.scalar(_BY_SLACK_ID, {"team_id": team_id, "slack_user_id": slack_user_id})
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
