"""Streaming reads for exports: approved examples in id order, in batches, never all at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session, aliased

from store.enums import ExampleStatus, Origin
from store.models import Category, Contributor, Example

KEY_BATCH = 20_000
ROW_BATCH = 1_000


@dataclass(frozen=True)
class ExportFilter:
    """Which examples an export may use: approved, of these origins, with enough reviews."""

    origins: tuple[Origin, ...] = tuple(Origin)
    min_reviews: int = 0


@dataclass(frozen=True)
class ExportKey:
    """The little an export needs to balance and split: no text."""

    id: int
    category_id: int
    author_id: int | None
    # True when an eligible example with the same normalised text has a smaller id.
    duplicate: bool


@dataclass(frozen=True)
class ExportRow:
    """One example's text and provenance, as the writers need it."""

    id: int
    category: str
    origin: str
    team_id: str | None
    user_id: str | None
    instruction: str
    context: str
    response: str


def _eligible(example: type[Example], flt: ExportFilter) -> ColumnElement[bool]:
    return and_(
        example.status == ExampleStatus.APPROVED,
        example.origin.in_(flt.origins),
        example.review_count >= flt.min_reviews,
    )


def _earlier_copy(flt: ExportFilter) -> ColumnElement[bool]:
    # Exact duplicates: an eligible row with the same hash and a smaller id wins (index on hash).
    other = aliased(Example)
    return exists().where(
        other.content_hash == Example.content_hash,
        other.id < Example.id,
        _eligible(other, flt),
    )


def iter_keys(
    session: Session, flt: ExportFilter, *, batch_size: int = KEY_BATCH
) -> Iterator[ExportKey]:
    """Every eligible example's key in id order, read by keyset pagination (bounded memory)."""
    dup = _earlier_copy(flt).label("duplicate")
    last = 0
    while True:
        stmt = (
            select(Example.id, Example.category_id, Example.author_id, dup)
            .where(_eligible(Example, flt), Example.id > last)
            .order_by(Example.id)
            .limit(batch_size)
        )
        batch = session.execute(stmt).all()
        if not batch:
            return
        for row in batch:
            yield ExportKey(row[0], row[1], row[2], bool(row[3]))
        last = batch[-1][0]


def iter_rows(
    session: Session, ids: Sequence[int], *, batch_size: int = ROW_BATCH
) -> Iterator[ExportRow]:
    """The rows with these ids (ascending), fetched a batch of ids at a time."""
    author = aliased(Contributor)
    for start in range(0, len(ids), batch_size):
        chunk = list(ids[start : start + batch_size])
        stmt = (
            select(
                Example.id,
                Category.slug,
                Example.origin,
                author.team_id,
                author.slack_user_id,
                Example.instruction,
                Example.context,
                Example.response,
            )
            .join(Category, Category.id == Example.category_id)
            .outerjoin(author, author.id == Example.author_id)
            .where(Example.id.in_(chunk))
            .order_by(Example.id)
        )
        for r in session.execute(stmt):
            yield ExportRow(r[0], r[1], Origin(r[2]).value, r[3], r[4], r[5], r[6] or "", r[7])


def category_table(session: Session) -> dict[int, tuple[str, int]]:
    """Category id -> (slug, target) for every category."""
    return {
        cid: (slug, target)
        for cid, slug, target in session.execute(
            select(Category.id, Category.slug, Category.target).order_by(Category.sort_order)
        )
    }


def begin_snapshot(session: Session) -> None:
    """Make the session's reads one consistent snapshot (REPEATABLE READ on PostgreSQL).

    SQLite's WAL readers already see one snapshot for the whole transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
