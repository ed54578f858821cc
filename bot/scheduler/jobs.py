"""The scheduled jobs; each takes its collaborators explicitly and the time it runs at.

`app.py` binds the collaborators (session factory, Slack client, exporter, generator, nudge
sender) from settings; tests pass a real database and doubles of the outside world.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.views.consent import ANSWERED, answered_blocks
from store.assignments import expire_assignments
from store.consents import expire as expire_consents
from store.db import session_scope
from store.deliveries import forget_deliveries_before
from store.enums import ConsentStatus, RunStatus
from store.job_runs import recent_runs

log = logging.getLogger("crowdtune.scheduler")

EXPORT_FOLDER = re.compile(r"^\d{8}T\d{6}Z$")
EXPORT_JOB = "export"
# Slack redelivers an event or a submission within minutes (its retries end about 5 minutes
# after the first try): a day of keys is ample, and every App Home open, submission and
# interest pick adds one, so without forgetting the table grows with all traffic ever.
DELIVERY_KEYS_KEPT = timedelta(days=1)


def expiry_job(now: datetime, *, sessions: sessionmaker[Session], hours: int) -> dict[str, Any]:
    """Close unanswered assignments so their items go back to the pool, and forget the keys of
    deliveries handled more than DELIVERY_KEYS_KEPT ago."""
    with session_scope(sessions) as s:
        ids = expire_assignments(s, now=now, default_hours=hours)
        forgotten = forget_deliveries_before(s, now - DELIVERY_KEYS_KEPT)
    return {"expired": len(ids), "deliveries_forgotten": forgotten}


def consent_expiry_job(
    now: datetime, *, sessions: sessionmaker[Session], days: int, client: WebClient | None
) -> dict[str, Any]:
    """Consent requests unanswered for `days` count as declines: their captures' quoted text
    is deleted, and each request's DM says so (when Slack is configured)."""
    with session_scope(sessions) as s:
        gone = expire_consents(s, now=now, days=days)
    updated = 0
    status = ConsentStatus.EXPIRED
    for request in gone:
        if client is None or not (request.dm_channel and request.dm_ts):
            continue
        try:
            client.chat_update(
                channel=request.dm_channel,
                ts=request.dm_ts,
                text=ANSWERED[status],
                blocks=answered_blocks(status),
            )
            updated += 1
        except SlackApiError as exc:
            # The text is deleted either way; a DM that cannot change is only a stale message.
            log.warning("consent DM %s/%s not updated: %s", request.dm_channel, request.dm_ts, exc)
    return {
        "expired": len(gone),
        "examples_withdrawn": len({r.example_id for r in gone}),
        "dms_updated": updated,
    }


def skipped(reason: str, job: str) -> dict[str, Any]:
    """The one log line and result of a job that cannot run in this configuration."""
    log.warning("%s skipped: %s", job, reason)
    return {"skipped": reason}


def gap_fill_job(
    now: datetime, *, generate: Callable[[datetime], Mapping[str, Any]] | None
) -> dict[str, Any]:
    """Draft LLM examples for categories below target; skipped when no LLM is configured."""
    if generate is None:
        return skipped("no LLM configured (set OPENAI_BASE_URL and/or OPENAI_API_KEY)", "gap_fill")
    return dict(generate(now))


def dedup_snapshot_job(now: datetime, *, write: Callable[[], int | None]) -> dict[str, Any]:
    """Rewrite the near-duplicate index snapshot, so processes that start map it instead of
    reading every example; skipped when CROWDTUNE_DEDUP_SNAPSHOT is unset."""
    held = write()
    if held is None:
        return skipped("no snapshot folder configured (set CROWDTUNE_DEDUP_SNAPSHOT)", "dedup")
    return {"examples": held}


def nudge_job(now: datetime, *, send: Callable[[datetime], Mapping[str, Any]]) -> dict[str, Any]:
    """Nudge the people whose local time is now their nudge time (the sender decides who)."""
    return dict(send(now))


# --- scheduled export -------------------------------------------------------------------------

ExportFn = Callable[[Path], Mapping[str, int]]


def export_folder_name(now: datetime) -> str:
    """The dated folder of one scheduled export, sortable by name."""
    return now.strftime("%Y%m%dT%H%M%SZ")


def prune_exports(root: Path, keep: int) -> list[str]:
    """Remove all but the newest `keep` dated export folders; other files are left alone."""
    dated = sorted(p for p in root.iterdir() if p.is_dir() and EXPORT_FOLDER.match(p.name))
    doomed = dated[: max(0, len(dated) - keep)]
    for p in doomed:
        shutil.rmtree(p)
    return [p.name for p in doomed]


def export_summary(
    counts: Mapping[str, int], previous: Mapping[str, int] | None, folder: str
) -> str:
    """The Slack text of an export: counts per category and change since the previous one."""
    lines = [f"*Scheduled export `{folder}`* — {sum(counts.values())} examples"]
    for slug in sorted(set(counts) | set(previous or {})):
        n = counts.get(slug, 0)
        if previous is None:
            lines.append(f"• {slug}: {n}")
        else:
            delta = n - previous.get(slug, 0)
            lines.append(f"• {slug}: {n} ({delta:+d})")
    if previous is None:
        lines.append("_First scheduled export: no previous one to compare with._")
    return "\n".join(lines)


def _previous_counts(sessions: sessionmaker[Session]) -> dict[str, int] | None:
    with session_scope(sessions) as s:
        for run in recent_runs(s, job=EXPORT_JOB, limit=50):
            counts = (run.result or {}).get("counts")
            if run.status == RunStatus.SUCCEEDED and isinstance(counts, dict):
                return {str(k): int(v) for k, v in counts.items()}
    return None


def export_job(
    now: datetime,
    *,
    sessions: sessionmaker[Session],
    root: Path,
    keep: int,
    export: ExportFn,
    post: Callable[[str], None] | None,
) -> dict[str, Any]:
    """Write the export spec into a dated folder under `root`, keep the last `keep`, post it."""
    root.mkdir(parents=True, exist_ok=True)
    folder = export_folder_name(now)
    previous = _previous_counts(sessions)
    counts = {str(k): int(v) for k, v in export(root / folder).items()}
    removed = prune_exports(root, keep)
    text = export_summary(counts, previous, folder)
    posted = False
    if post is not None:
        post(text)
        posted = True
    else:
        log.info("export summary not posted: CROWDTUNE_EXPORT_CHANNEL is not set")
    return {"folder": folder, "counts": counts, "removed": removed, "posted": posted}
