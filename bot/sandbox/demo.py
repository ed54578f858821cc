"""`--demo`: example pairs and conversations written for the sandbox, by made-up writers,
partly reviewed."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.sandbox.people import DEMO_REVIEWERS, DEMO_WRITERS
from bot.slack.standin.web_api import TEAM_ID
from store.categories import get_category
from store.contributors import get_or_create_contributor
from store.conversations import Turn
from store.enums import TurnRole, Verdict
from store.examples import PairText, submit_example
from store.models import Example
from store.reviews import Quorum, record_review


@dataclass(frozen=True)
class DemoPair:
    """One demo example (a pair, or a conversation when it has turns) and how many demo
    reviewers approved it already."""

    category: str
    instruction: str
    context: str
    response: str
    reviews: int
    turns: tuple[Turn, ...] = ()


def demo_pairs() -> list[DemoPair]:
    """The pairs and conversations of demo_examples.yaml, in file order."""
    raw: list[dict[str, Any]] = yaml.safe_load(
        (resources.files("bot.sandbox") / "demo_examples.yaml").read_text(encoding="utf-8")
    )
    return [
        DemoPair(
            str(r["category"]),
            str(r.get("instruction") or ""),
            str(r.get("context") or ""),
            str(r.get("response") or ""),
            int(r.get("reviews") or 0),
            tuple(Turn(TurnRole(str(t["role"])), str(t["text"])) for t in r.get("turns") or []),
        )
        for r in raw
    ]


def seed_demo(session: Session, quorum: Quorum) -> int:
    """Store the demo pairs and their reviews once; the number added (0 when already there)."""
    writers = [
        get_or_create_contributor(session, TEAM_ID, p.id, display_name=p.name, tz=p.tz)
        for p in DEMO_WRITERS
    ]
    written = session.scalar(
        select(Example.id).where(Example.author_id.in_([w.id for w in writers])).limit(1)
    )
    if written is not None:
        return 0
    reviewers = [
        get_or_create_contributor(session, TEAM_ID, p.id, display_name=p.name, tz=p.tz)
        for p in DEMO_REVIEWERS
    ]
    pairs = demo_pairs()
    for i, pair in enumerate(pairs):
        example = submit_example(
            session,
            category=get_category(session, pair.category),
            text=PairText(pair.instruction, pair.context, pair.response),
            author=writers[i % len(writers)],
            turns=list(pair.turns) or None,
        )
        for reviewer in reviewers[: pair.reviews]:
            record_review(
                session,
                example_id=example.id,
                reviewer=reviewer,
                verdict=Verdict.APPROVE,
                quorum=quorum,
                rating=4,
            )
    return len(pairs)
