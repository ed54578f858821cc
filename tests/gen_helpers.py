"""Shared setup of the generator tests: a run against the LLM double with injected sleep."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from generators.calls import RetryPolicy
from generators.drafts import GenerationReport, generate_drafts
from generators.llm_client import make_client
from store.models import Example, LlmUsage
from store.quality.dedup import DedupIndex
from store.quality.pii import scrub_pii
from tests.dbs import TestDatabase
from tests.llm_double import LlmDouble

DAY = date(2026, 11, 24)


class SleepRecorder:
    """Stands in for asyncio.sleep: remembers the waits, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def run_generate(
    db: TestDatabase,
    double: LlmDouble,
    *,
    timeout: float = 5.0,
    sleep: SleepRecorder | None = None,
    **overrides: Any,
) -> GenerationReport:
    """One generate run with test defaults; keyword arguments override them."""
    client = make_client(base_url=double.base_url, api_key="test-key", timeout=timeout)
    kwargs: dict[str, Any] = {
        "model": "double-model",
        "categories": ["open_qa"],
        "count": 3,
        "per_request": 3,
        "concurrency": 2,
        "daily_token_budget": 1_000_000,
        "seed": 7,
        "scrub": scrub_pii,
        "duplicate_index": DedupIndex.from_session,
        "retry": RetryPolicy(max_attempts=3, sleep=sleep or SleepRecorder()),
        "today": lambda: DAY,
    }
    kwargs.update(overrides)
    return generate_drafts(db.sessions, client, **kwargs)


def drafts(db: TestDatabase) -> list[Example]:
    """Every stored example, oldest first, detached for inspection."""
    with db.session() as s:
        rows = list(s.scalars(select(Example).order_by(Example.id)))
        s.expunge_all()
    return rows


def usage_outcomes(db: TestDatabase) -> list[str]:
    """The outcome of every recorded LLM request, in order."""
    with db.session() as s:
        return list(s.scalars(select(LlmUsage.outcome).order_by(LlmUsage.id)))
