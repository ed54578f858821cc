"""The production jobs: settings and the runtime bound into each job's collaborators."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.commands.export import export_to, resolve_salt, spec_from_args
from bot.commands.generate import drafts_from_settings, llm_configured
from bot.config import Settings
from bot.nudges import NudgePolicy
from bot.runtime import Runtime
from bot.scheduler.app import JobSpec
from bot.scheduler.cron import CronError, cron_trigger, zone
from bot.scheduler.digest import digest_job
from bot.scheduler.jobs import (
    ExportFn,
    consent_expiry_job,
    dedup_snapshot_job,
    expiry_job,
    export_job,
    gap_fill_job,
    nudge_job,
    skipped,
)
from bot.scheduler.nudging import nudge_sender as send_nudges_at_local_time
from bot.slack.client import build_client
from store.app_settings import NoSalt, check_salt
from store.errors import DomainError

log = logging.getLogger("crowdtune.scheduler")

# Expiry has no setting of its own: every 15 minutes keeps "48 hours" accurate to the quarter.
EXPIRY_CRON = "*/15 * * * *"
# Consent requests expire after days: an hourly sweep is exact enough.
CONSENT_EXPIRY_CRON = "20 * * * *"


def slack_client(settings: Settings) -> WebClient | None:
    """The bot's Web API client (SLACK_API_URL, retries 429s), or None without a bot token."""
    return build_client(settings) if settings.slack_bot_token is not None else None


def nudge_trigger_expr(nudge_cron: str) -> str:
    """Hourly at the nudge minute: people's local 10:00 falls on different UTC hours."""
    fields = nudge_cron.split()
    minute = fields[0] if len(fields) == 5 else "0"
    return f"{minute} * * * *"


def production_specs(settings: Settings, rt: Runtime) -> list[JobSpec]:
    """Every job of the worker, from settings."""
    tz = zone(settings.timezone)
    client = slack_client(settings)

    return [
        JobSpec(
            "expiry",
            cron_trigger(EXPIRY_CRON, tz, setting="expiry"),
            partial(expiry_job, sessions=rt.sessions, hours=settings.assignment_expiry_hours),
            timedelta(minutes=15),
            cron=EXPIRY_CRON,
            note=f"closes assignments older than {settings.assignment_expiry_hours} h "
            "(CROWDTUNE_ASSIGNMENT_EXPIRY_HOURS), forgets delivery keys older than a day",
        ),
        JobSpec(
            "consent_expiry",
            cron_trigger(CONSENT_EXPIRY_CRON, tz, setting="consent_expiry"),
            partial(
                consent_expiry_job, sessions=rt.sessions, days=settings.consent_days, client=client
            ),
            timedelta(hours=1),
            cron=CONSENT_EXPIRY_CRON,
            note=f"captures whose quoted authors did not answer within {settings.consent_days} "
            "days lose the quoted text (CROWDTUNE_CONSENT_DAYS)",
        ),
        JobSpec(
            "nudges",
            cron_trigger(
                nudge_trigger_expr(settings.nudge_cron), tz, setting="CROWDTUNE_NUDGE_CRON"
            ),
            partial(nudge_job, send=nudge_sender(settings, rt, client)),
            timedelta(minutes=30),
            cron=settings.nudge_cron,
            setting="CROWDTUNE_NUDGE_CRON",
            note="in each person's own time zone; the next fire is the next hourly check",
        ),
        JobSpec(
            "gap_fill",
            cron_trigger(settings.gap_fill_cron, tz, setting="CROWDTUNE_GAP_FILL_CRON"),
            partial(gap_fill_job, generate=draft_generator(settings, rt)),
            timedelta(hours=2),
            cron=settings.gap_fill_cron,
            setting="CROWDTUNE_GAP_FILL_CRON",
        ),
        JobSpec(
            "export",
            cron_trigger(settings.export_cron, tz, setting="CROWDTUNE_EXPORT_CRON"),
            export_fn(settings, rt, client),
            timedelta(hours=6),
            cron=settings.export_cron,
            setting="CROWDTUNE_EXPORT_CRON",
        ),
        JobSpec(
            "dedup_snapshot",
            cron_trigger(settings.dedup_snapshot_cron, tz, setting="CROWDTUNE_DEDUP_SNAPSHOT_CRON"),
            partial(dedup_snapshot_job, write=rt.write_dedup_snapshot),
            timedelta(minutes=30),
        ),
        JobSpec(
            "digest",
            cron_trigger(settings.digest_cron, tz, setting="CROWDTUNE_DIGEST_CRON"),
            digest_fn(settings, rt, client),
            timedelta(hours=6),
            cron=settings.digest_cron,
            setting="CROWDTUNE_DIGEST_CRON",
        ),
    ]


def digest_fn(
    settings: Settings, rt: Runtime, client: WebClient | None
) -> Callable[[datetime], dict[str, Any]]:
    """The digest bound to its channel, or a job that says why it cannot post."""
    if client is None or not settings.digest_channel:
        reason = "needs SLACK_BOT_TOKEN and CROWDTUNE_DIGEST_CHANNEL"
        return lambda now: skipped(reason, "digest")
    return partial(digest_job, sessions=rt.sessions, client=client, channel=settings.digest_channel)


def channel_poster(client: WebClient | None, channel: str | None) -> Callable[[str], None] | None:
    """Post a text to `channel`, or None when Slack or the channel is not configured."""
    if client is None or not channel:
        return None

    def post(text: str) -> None:
        client.chat_postMessage(channel=channel, text=text)

    return post


def export_fn(
    settings: Settings, rt: Runtime, client: WebClient | None
) -> Callable[[datetime], dict[str, Any]]:
    """The scheduled export bound to the export root, spec and summary channel."""
    export = exporter(settings, rt)
    if isinstance(export, str):
        reason = export
        return lambda now: skipped(reason, "export")
    job = partial(
        export_job,
        sessions=rt.sessions,
        root=Path(settings.export_root),
        keep=settings.export_keep,
        export=export,
        post=channel_poster(client, settings.export_channel),
    )

    def run(now: datetime) -> dict[str, Any]:
        try:
            return job(now)
        except NoSalt as exc:
            return skipped(exc.message, "export")

    return run


def exporter(settings: Settings, rt: Runtime) -> ExportFn | str:
    """The export collaborator (CROWDTUNE_EXPORT_ARGS into `out_dir`, counts per category),
    or the reason it cannot run (bad options, a pseudonym salt that is too short)."""
    try:
        # Options are checked at start (with a throw-away salt: the real one is read at each
        # fire, so a salt that `crowdtune db upgrade` generates later is picked up).
        spec_from_args(settings.export_args, settings, secrets.token_hex(16))
        if settings.pseudonym_salt is not None:
            check_salt(settings.pseudonym_salt.get_secret_value())
    except DomainError as exc:
        return f"CROWDTUNE_EXPORT_ARGS: {exc.message}" if "salt" not in exc.code else exc.message

    def export(out_dir: Path) -> Mapping[str, int]:
        spec = spec_from_args(
            settings.export_args, settings, resolve_salt(settings, rt.sessions).value
        )
        # The folder is named by the fire time: a re-run of the fire replaces it whole.
        result = export_to(settings, out_dir, spec, overwrite=True)
        counts: dict[str, int] = {}
        for split in result.counts.by_split.values():
            for slug, n in split.items():
                counts[slug] = counts.get(slug, 0) + n
        return counts

    return export


def nudge_sender(
    settings: Settings, rt: Runtime, client: WebClient | None
) -> Callable[[datetime], Mapping[str, Any]]:
    """The nudge collaborator: bot.nudges.send_nudges at each person's local nudge time."""
    if client is None:
        return lambda now: skipped("needs SLACK_BOT_TOKEN", "nudges")
    try:
        policy = NudgePolicy.from_settings(settings)
    except ValueError as exc:
        raise CronError(str(exc)) from exc
    return send_nudges_at_local_time(rt.sessions, client, policy, settings.nudge_cron)


def draft_generator(
    settings: Settings, rt: Runtime
) -> Callable[[datetime], Mapping[str, Any]] | None:
    """The gap-fill collaborator (generators.drafts), or None when no LLM is configured."""
    if not llm_configured(settings):
        return None

    def generate(now: datetime) -> Mapping[str, Any]:
        # The fire time seeds the run: a re-run of the same fire asks for the same drafts.
        report = drafts_from_settings(rt, seed=int(now.timestamp()), today=now.date)
        return {
            "kept": report.kept,
            "tokens": report.tokens,
            "budget_at_start": report.budget_remaining_at_start,
            "kept_by_category": {k: r.kept for k, r in report.categories.items() if r.kept},
            "failed_requests": sum(
                sum(r.failed_requests.values()) for r in report.categories.values()
            ),
        }

    return generate
