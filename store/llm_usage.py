"""Tokens spent on LLM requests: one row per request, summed per UTC day for the budget."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import LlmUsage


def record_usage(
    session: Session,
    *,
    day: date,
    model: str,
    category_id: int | None,
    prompt_tokens: int,
    completion_tokens: int,
    outcome: str,
) -> LlmUsage:
    """Store what one request cost and how it ended (ok, rate_limited, malformed, ...)."""
    row = LlmUsage(
        day=day,
        model=model,
        category_id=category_id,
        prompt_tokens=max(0, prompt_tokens),
        completion_tokens=max(0, completion_tokens),
        outcome=outcome[:32],
    )
    session.add(row)
    session.flush()
    return row


def tokens_spent(session: Session, day: date) -> int:
    """Prompt plus completion tokens recorded on this UTC day, across all models."""
    total = session.scalar(
        select(
            func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0)
        ).where(LlmUsage.day == day)
    )
    return int(total or 0)


def remaining_budget(session: Session, day: date, daily_budget: int) -> int:
    """Tokens still allowed today under `daily_budget` (never below zero)."""
    return max(0, daily_budget - tokens_spent(session, day))


def outcomes(session: Session, day: date) -> dict[str, int]:
    """Requests per outcome on this day, for reports."""
    rows = session.execute(
        select(LlmUsage.outcome, func.count()).where(LlmUsage.day == day).group_by(LlmUsage.outcome)
    )
    return {str(o): int(n) for o, n in rows}
