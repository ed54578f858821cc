"""The life of an Export row beyond start and finish: its heartbeat, and interrupted runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from store.enums import RunStatus
from store.models import Export


def export_heartbeat(session: Session, export_id: int, *, now: datetime) -> None:
    """Say that the export is still running."""
    session.execute(
        update(Export)
        .where(Export.id == export_id, Export.status == RunStatus.RUNNING)
        .values(heartbeat_at=now)
    )


def _interrupt(session: Session, rows: list[Export], now: datetime, why: str) -> list[Export]:
    for row in rows:
        row.status = RunStatus.FAILED
        row.error = f"interrupted: {why}"
        row.finished_at = now
    session.flush()
    return rows


def fail_stale_exports(session: Session, stale_after: timedelta, *, now: datetime) -> list[Export]:
    """Mark `running` exports whose heartbeat (or start) is older than `stale_after` failed."""
    cutoff = now - stale_after
    last_sign = func.coalesce(Export.heartbeat_at, Export.started_at)
    rows = list(
        session.scalars(
            select(Export)
            .where(Export.status == RunStatus.RUNNING, last_sign < cutoff)
            .with_for_update(skip_locked=True)
        )
    )
    return _interrupt(session, rows, now, f"no heartbeat for more than {stale_after}")


def fail_running_exports_to(session: Session, out_dir: str, *, now: datetime) -> list[Export]:
    """Mark `running` exports into `out_dir` failed: the caller holds that folder's lock, so
    whoever started them is gone."""
    rows = list(
        session.scalars(
            select(Export).where(Export.status == RunStatus.RUNNING, Export.out_dir == out_dir)
        )
    )
    return _interrupt(session, rows, now, "the export process ended before finishing")


def recent_out_dirs(session: Session, *, since: datetime | None = None) -> list[str]:
    """Folders that exports wrote to (since a time), where leftovers of crashes may lie."""
    stmt = select(Export.out_dir).distinct()
    if since is not None:
        stmt = stmt.where(or_(Export.started_at >= since, Export.status == RunStatus.RUNNING))
    return sorted(session.scalars(stmt))
