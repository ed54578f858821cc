"""Keys of deliveries already handled, so a retried Slack event or repeated click counts once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from store.inserts import InsertNew
from store.models import ProcessedDelivery
from store.types import utcnow

MAX_KEY_CHARS = 255
_CLAIM = InsertNew(ProcessedDelivery, ["key"])


def claim_delivery(session: Session, key: str) -> bool:
    """Record `key` as handled; True the first time, False when it was claimed before."""
    if not key or len(key) > MAX_KEY_CHARS:
        raise ValueError(f"a delivery key is 1 to {MAX_KEY_CHARS} characters")
    # One statement: a concurrent claim of the same key waits for ours and then stores nothing
    # (PostgreSQL), or runs after it (SQLite); either way the session stays usable.
    return _CLAIM.run(session, {"key": key, "created_at": utcnow()}) is not None


def forget_deliveries_before(session: Session, cutoff: datetime) -> int:
    """Delete keys older than `cutoff` (Slack retries within minutes); return how many."""
    result = session.execute(delete(ProcessedDelivery).where(ProcessedDelivery.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
