"""Streaming reads for exports: approved examples in id order, in batches, never all at once."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, inspect, not_, select, text
from sqlalchemy.orm import Session, aliased

from store.enums import ExampleKind, ExampleStatus, Origin, TurnRole
from store.errors import NotFound
from store.models import Category, Contributor, Example, ExampleTurn, Review

KEY_BATCH = 20_000
ROW_BATCH = 1_000


@dataclass(frozen=True)
class ExportFilter:
    """Which examples an export may use: approved, of these origins, with enough reviews."""

    origins: tuple[Origin, ...] = tuple(Origin)
    min_reviews: int = 0
    category_ids: tuple[int, ...] | None = None  # None: every category
    min_rating: float | None = None  # mean of the reviewers' 1–5 ratings


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
    guideline_version: int | None = None
    kind: str = ExampleKind.PAIR.value
    # A conversation's turns in order, as (role, text); empty for a pair.
    turns: tuple[tuple[str, str], ...] = ()


def _eligible(example: type[Example], flt: ExportFilter) -> ColumnElement[bool]:
    terms = [
        example.status == ExampleStatus.APPROVED,
        example.origin.in_(flt.origins),
        example.review_count >= flt.min_reviews,
    ]
    if flt.category_ids is not None:
        terms.append(example.category_id.in_(flt.category_ids))
    if flt.min_rating is not None:
        rated = (
            select(Review.example_id)
            .where(Review.rating.is_not(None))
            .group_by(Review.example_id)
            .having(func.avg(Review.rating) >= flt.min_rating)
        )
        terms.append(example.id.in_(rated))
    return and_(*terms)


def export_category_ids(session: Session, slugs: Sequence[str]) -> tuple[int, ...] | None:
    """Ids of the named categories (retired ones too), or of every active one when none named;
    None when that is every category (nothing to filter).

    Raises NotFound naming the unknown slugs and the known ones.
    """
    rows = session.execute(select(Category.id, Category.slug, Category.active)).all()
    if not slugs:
        if all(active for _, _, active in rows):
            return None
        return tuple(sorted(cid for cid, _, active in rows if active))
    by_slug = {slug: cid for cid, slug, _ in rows}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        known = ", ".join(sorted(by_slug))
        raise NotFound(f"--categories: unknown {', '.join(unknown)}; known: {known}")
    return tuple(sorted(by_slug[s] for s in slugs))


def duplicate_ids(session: Session, flt: ExportFilter) -> dict[int, int]:
    """Eligible examples whose exact text an eligible example with a smaller id has, mapped
    to that smallest id (the copy that is kept).

    One grouped pass over the content_hash index finds the repeated hashes; only their rows
    are fetched, so memory follows the number of duplicates, not of examples. (A correlated
    NOT EXISTS per row lets SQLite pick the status index and go quadratic.)
    """
    repeated = (
        select(Example.content_hash)
        .where(_eligible(Example, flt))
        .group_by(Example.content_hash)
        .having(func.count() > 1)
    )
    stmt = (
        select(Example.content_hash, Example.id)
        .where(_eligible(Example, flt), Example.content_hash.in_(repeated))
        .order_by(Example.content_hash, Example.id)
    )
    dups: dict[int, int] = {}
    previous: str | None = None
    first = 0
    for digest, example_id in session.execute(stmt):
        if digest == previous:
            dups[example_id] = first
        else:
            previous, first = digest, example_id
    return dups


@dataclass(frozen=True)
class FilterCounts:
    """How many approved examples each filter leaves, in the order they apply."""

    approved: int
    of_origins: int
    with_reviews: int
    # ... and of those, in the chosen categories with the chosen ratings (every filter).
    eligible: int


def filter_counts(session: Session, flt: ExportFilter) -> FilterCounts:
    """Approved examples, then those of the chosen origins, then those with enough reviews,
    then those the category and rating filters keep."""
    approved = Example.status == ExampleStatus.APPROVED
    origins = Example.origin.in_(flt.origins)
    reviewed = Example.review_count >= flt.min_reviews
    count = select(func.count()).select_from(Example)
    return FilterCounts(
        session.scalar(count.where(approved)) or 0,
        session.scalar(count.where(approved, origins)) or 0,
        session.scalar(count.where(approved, origins, reviewed)) or 0,
        session.scalar(count.where(_eligible(Example, flt))) or 0,
    )


def iter_excluded(
    session: Session, flt: ExportFilter, *, batch_size: int = KEY_BATCH
) -> Iterator[tuple[int, str, int]]:
    """(id, origin, review_count) of approved examples the filter leaves out, in id order."""
    conn = session.connection()
    last = 0
    while True:
        stmt = (
            select(Example.id, Example.origin, Example.review_count)
            .where(
                Example.status == ExampleStatus.APPROVED,
                not_(_eligible(Example, flt)),
                Example.id > last,
            )
            .order_by(Example.id)
            .limit(batch_size)
        )
        batch = conn.execute(stmt).all()
        if not batch:
            return
        for example_id, origin, reviews in batch:
            yield example_id, Origin(origin).value, reviews
        last = batch[-1][0]


@dataclass(frozen=True)
class Provenance:
    """Where a set of examples came from: origins, sources with licences, reviewed rows."""

    origins: Counter[str]
    sources: Counter[tuple[str, str, str | None]]  # (origin, source name, licence) -> rows
    licences: Counter[str | None]
    reviewed: int
    reviews: int


def provenance(session: Session, ids: Sequence[int], *, batch_size: int = ROW_BATCH) -> Provenance:
    """Origins, import/transform sources and licences, and review counts of these examples."""
    out = Provenance(Counter(), Counter(), Counter(), 0, 0)
    reviewed = reviews = 0
    for start in range(0, len(ids), batch_size):
        chunk = list(ids[start : start + batch_size])
        stmt = (
            select(
                Example.origin,
                func.coalesce(Example.source_name, Example.source),
                Example.licence,
                func.count(),
                func.sum(Example.review_count),
                func.count().filter(Example.review_count > 0),
            )
            .where(Example.id.in_(chunk))
            .group_by(
                Example.origin, func.coalesce(Example.source_name, Example.source), Example.licence
            )
        )
        for origin, source, licence, n, n_reviews, n_reviewed in session.execute(stmt):
            o = Origin(origin).value
            out.origins[o] += n
            out.licences[licence] += n
            if source is not None or licence is not None:
                out.sources[(o, source or "unnamed", licence)] += n
            reviews += int(n_reviews or 0)
            reviewed += int(n_reviewed or 0)
    return Provenance(out.origins, out.sources, out.licences, reviewed, reviews)


def database_marker(session: Session) -> dict[str, Any]:
    """What identifies the database an export read, without its address or password:
    dialect, Alembic revision, a fingerprint of the URL, the highest example id."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    url = engine.url.render_as_string(hide_password=True)
    revision = None
    if inspect(session.connection()).has_table("alembic_version"):
        revision = session.scalar(text("SELECT version_num FROM alembic_version"))
    return {
        "dialect": bind.dialect.name,
        "revision": revision,
        "fingerprint": hashlib.sha256(url.encode()).hexdigest()[:16],
        "max_example_id": session.scalar(select(func.max(Example.id))) or 0,
    }


def conversation_ids(session: Session, flt: ExportFilter) -> set[int]:
    """Ids of the eligible conversations: read through ix_examples_kind_status_category, so
    the cost follows the conversations, and iter_keys' hot loop reads no kind per row."""
    stmt = select(Example.id).where(
        Example.kind == ExampleKind.CONVERSATION, _eligible(Example, flt)
    )
    return set(session.scalars(stmt))


def iter_keys(
    session: Session, flt: ExportFilter, *, batch_size: int = KEY_BATCH
) -> Iterator[tuple[int, int, int | None]]:
    """(id, category_id, author_id) of every eligible example in id order, by keyset pages.

    Plain tuples through the session's connection: a million of them is the hot loop.
    """
    conn = session.connection()
    last = 0
    while True:
        stmt = (
            select(Example.id, Example.category_id, Example.author_id)
            .where(_eligible(Example, flt), Example.id > last)
            .order_by(Example.id)
            .limit(batch_size)
        )
        batch = conn.execute(stmt).all()
        if not batch:
            return
        yield from batch
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
                Example.guideline_version,
                Example.kind,
            )
            .join(Category, Category.id == Example.category_id)
            .outerjoin(author, author.id == Example.author_id)
            .where(Example.id.in_(chunk))
            .order_by(Example.id)
        )
        rows = session.execute(stmt).all()
        conversations = [r[0] for r in rows if r[9] == ExampleKind.CONVERSATION]
        turns = turns_by_example(session, conversations) if conversations else {}
        for r in rows:
            yield ExportRow(
                r[0],
                r[1],
                Origin(r[2]).value,
                r[3],
                r[4],
                r[5],
                r[6] or "",
                r[7],
                r[8],
                ExampleKind(r[9]).value,
                tuple(turns.get(r[0], ())),
            )


def turns_by_example(
    session: Session, ids: Sequence[int], *, batch_size: int = ROW_BATCH
) -> dict[int, list[tuple[str, str]]]:
    """Example id -> its turns in order as (role, text), for the conversations among `ids`."""
    out: dict[int, list[tuple[str, str]]] = {}
    for example_id, role, body in _turn_rows(session, ids, True, batch_size):
        out.setdefault(example_id, []).append((role, body))
    return out


def roles_by_example(
    session: Session, ids: Sequence[int], *, batch_size: int = ROW_BATCH
) -> dict[int, tuple[str, ...]]:
    """Example id -> the roles of its turns in order (no text read), for the conversations."""
    out: dict[int, list[str]] = {}
    for example_id, role, _ in _turn_rows(session, ids, False, batch_size):
        out.setdefault(example_id, []).append(role)
    return {k: tuple(v) for k, v in out.items()}


def _turn_rows(
    session: Session, ids: Sequence[int], with_text: bool, batch_size: int
) -> Iterator[tuple[int, str, str]]:
    # One read per batch of ids over example_turns' unique (example_id, position) index.
    columns: list[Any] = [ExampleTurn.example_id, ExampleTurn.role]
    if with_text:
        columns.append(ExampleTurn.text)
    for start in range(0, len(ids), batch_size):
        chunk = list(ids[start : start + batch_size])
        stmt = (
            select(*columns)
            .where(ExampleTurn.example_id.in_(chunk))
            .order_by(ExampleTurn.example_id, ExampleTurn.position)
        )
        for row in session.execute(stmt):
            yield row[0], TurnRole(row[1]).value, row[2] if with_text else ""


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
