"""Small helpers that put people and examples in a test database."""

from __future__ import annotations

from itertools import count

from sqlalchemy.orm import Session

from store.categories import get_category
from store.contributors import get_or_create_contributor
from store.enums import ExampleStatus, Origin
from store.examples import PairText, submit_example
from store.models import Contributor, Example

TEAM = "T0001"
_serial = count(1)


def person(session: Session, user_id: str, name: str | None = None) -> Contributor:
    """A contributor in the test team."""
    return get_or_create_contributor(session, TEAM, user_id, display_name=name or user_id)


def example(
    session: Session,
    author: Contributor | None,
    *,
    category: str = "open_qa",
    status: ExampleStatus = ExampleStatus.PENDING,
    origin: Origin = Origin.HUMAN,
    instruction: str | None = None,
    context: str = "",
    response: str = "A complete and helpful answer to the question.",
    strict: bool = True,
) -> Example:
    """A valid example; each call gets a distinct instruction unless one is given."""
    n = next(_serial)
    text = PairText(
        instruction or f"What is a good way to learn topic number {n} quickly?",
        context,
        response,
    )
    return submit_example(
        session,
        category=get_category(session, category),
        text=text,
        author=author,
        origin=origin,
        status=status,
        strict=strict,
    )
