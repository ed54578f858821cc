"""Bulk test data for the export tests: approved examples inserted in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session

from exporters.spec import ExportSpec
from store.categories import get_category
from store.conversations import Turn
from store.enums import ExampleStatus, Origin, TurnRole
from store.examples import PairText, submit_example
from store.models import Example
from store.validation import content_hash
from tests.factories import person

SALT = "test-salt-0123456789abcdef"


@dataclass(frozen=True)
class Item:
    """One example to insert: category slug, author user id (None: no author), origin."""

    category: str
    author: str | None = None
    origin: Origin = Origin.HUMAN
    status: ExampleStatus = ExampleStatus.APPROVED
    instruction: str | None = None
    context: str = ""
    response: str | None = None
    reviews: int = 0
    source_name: str | None = None
    licence: str | None = None


def insert_items(session: Session, items: Sequence[Item]) -> list[int]:
    """Insert the items (distinct texts unless given) and return their ids in order."""
    cats = {slug: get_category(session, slug).id for slug in {i.category for i in items}}
    people = {u: person(session, u).id for u in {i.author for i in items if i.author}}
    first = session.query(Example.id).order_by(Example.id.desc()).limit(1).scalar() or 0
    rows = []
    for n, it in enumerate(items):
        ins = it.instruction or f"Explain item {first + n} of the {it.category} set, please."
        ctx = it.context
        resp = it.response or f"Answer {first + n}: a thorough, specific response {n * 7919}."
        rows.append(
            {
                "category_id": cats[it.category],
                "instruction": ins,
                "context": ctx,
                "response": resp,
                "status": it.status,
                "origin": it.origin,
                "author_id": people[it.author] if it.author else None,
                "content_hash": content_hash(ins, ctx, resp),
                "flags": [],
                "review_count": it.reviews,
                "source_name": it.source_name,
                "licence": it.licence,
            }
        )
    if rows:
        session.execute(insert(Example), rows)
    ids = session.query(Example.id).filter(Example.id > first).order_by(Example.id).all()
    return [i for (i,) in ids]


def spec(**kw: object) -> ExportSpec:
    """A spec with the test salt; keyword arguments override fields."""
    base: dict[str, object] = {"salt": SALT, "test_size": 0.0, "near_dup_threshold": None}
    base.update(kw)
    return ExportSpec(**base)  # type: ignore[arg-type]


def insert_conversation(
    session: Session,
    category: str,
    author: str | None,
    turns: Sequence[tuple[TurnRole, str]],
    *,
    origin: Origin = Origin.HUMAN,
    status: ExampleStatus = ExampleStatus.APPROVED,
) -> int:
    """Store one conversation through submit_example (the store's own path) and return its id."""
    example = submit_example(
        session,
        category=get_category(session, category),
        text=PairText("", "", ""),
        author=person(session, author) if author else None,
        origin=origin,
        status=status,
        turns=[Turn(role, text) for role, text in turns],
    )
    return example.id
