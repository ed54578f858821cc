"""Keys of deliveries already handled, so a retried Slack event or repeated click counts once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import ProcessedDelivery

MAX_KEY_CHARS = 255


def claim_delivery(session: Session, key: str) -> bool:
    """Record `key` as handled; True the first time, False when it was claimed before."""
    if not key or len(key) > MAX_KEY_CHARS:
        raise ValueError(f"a delivery key is 1 to {MAX_KEY_CHARS} characters")
    if session.scalar(select(ProcessedDelivery.key).where(ProcessedDelivery.key == key)):
        return False
    try:
        # A savepoint, so a concurrent claim of the same key loses without losing the session.
        with session.begin_nested():
            session.add(ProcessedDelivery(key=key))
    except IntegrityError:
        return False
    return True


def forget_deliveries_before(session: Session, cutoff: datetime) -> int:
    """Delete keys older than `cutoff` (Slack retries within minutes); return how many."""
    result = session.execute(delete(ProcessedDelivery).where(ProcessedDelivery.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
