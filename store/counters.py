"""Reading the counters the database's triggers keep (migration 0009), and a full recount.

Counts per category/status/origin, per contributor, and per contributor and UTC day are
maintained in the same transaction as each change, so reading them costs the same at 10k or
1M examples. On PostgreSQL the triggers apply their deltas at commit; until then they sit in
a session temp table, which `staged` reads so a transaction sees its own changes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, func, literal, literal_column, or_, select, text
from sqlalchemy.orm import Session

from store.enums import ExampleStatus
from store.models import CategoryCount, ContributorCount, ContributorDay, Example, Review

STAGED_SETTING = "crowdtune.counters_staged"


@dataclass(frozen=True)
class Tally:
    """One person's examples written (all statuses), approved and pending, and reviews given."""

    written: int = 0
    approved: int = 0
    pending: int = 0
    reviews: int = 0

    @property
    def score(self) -> int:
        """The leaderboard's score: approved weigh most, reviews count as half the work."""
        return 3 * self.approved + self.written + self.reviews

    def plus(self, field_code: str, n: int) -> Tally:
        """This tally with `n` added to one field ('w', 'a', 'p' or 'r')."""
        return Tally(
            self.written + n * (field_code == "w"),
            self.approved + n * (field_code == "a"),
            self.pending + n * (field_code == "p"),
            self.reviews + n * (field_code == "r"),
        )


@dataclass
class Snapshot:
    """Every count, keyed as the counters are: used to compare counters with a recount."""

    categories: dict[tuple[int, str, str], int] = field(default_factory=dict)
    people: dict[int, Tally] = field(default_factory=dict)
    days: dict[tuple[int, date], Tally] = field(default_factory=dict)


def _flag_column(pg: bool) -> Any:
    """A column saying whether this transaction has staged deltas (PostgreSQL), else NULL:
    read along with the counters, so a transaction with nothing staged pays no extra query."""
    if not pg:
        return literal(None).label("staged")
    return func.current_setting(STAGED_SETTING, True).label("staged")


def is_pg(session: Session) -> bool:
    """True on PostgreSQL (whose counters are applied at commit), False on SQLite."""
    return session.get_bind().dialect.name == "postgresql"


# Statements built once (they are constants): building and cache-keying a select costs more
# Python than running one of these indexed reads. Keyed by is_pg.
_FLAG = {pg: select(_flag_column(pg)) for pg in (False, True)}
_STAGED_ROWS = text("SELECT k, sum(n) FROM pg_temp.counter_deltas GROUP BY k")
_CATEGORY_ROWS = {
    pg: select(CategoryCount.category_id, CategoryCount.status, CategoryCount.n, _flag_column(pg))
    for pg in (False, True)
}
_CATEGORY_ROWS_OF_ORIGIN = {
    pg: stmt.where(CategoryCount.origin == bindparam("origin"))
    for pg, stmt in _CATEGORY_ROWS.items()
}
LIVE_SUBQUERIES = {
    pg: select(func.coalesce(func.sum(CategoryCount.n), 0).label("n"), _flag_column(pg))
    .where(CategoryCount.status != ExampleStatus.REJECTED.value)
    .subquery("live")
    for pg in (False, True)
}
_LIVE_ROW = {pg: select(live.c.n, live.c.staged) for pg, live in LIVE_SUBQUERIES.items()}


def staged(session: Session, *, flag: object = ...) -> dict[str, int]:
    """Deltas this PostgreSQL transaction made that its commit has not applied yet (`flag` is
    the value of the `_flag_column` when a query already read it)."""
    if not is_pg(session):
        return {}
    if flag is ...:
        flag = session.scalar(_FLAG[True])
    if not flag:
        return {}
    return {str(k): int(n) for k, n in session.execute(_STAGED_ROWS) if n}


def category_status_counts(
    session: Session, *, origin: str | None = None
) -> dict[int, dict[str, int]]:
    """Category id → status → number of examples (of one origin when given)."""
    pg = is_pg(session)
    rows = (
        session.execute(_CATEGORY_ROWS[pg])
        if origin is None
        else session.execute(_CATEGORY_ROWS_OF_ORIGIN[pg], {"origin": origin})
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    flag: object = ...  # unknown until a row says: with no rows, staged() asks itself
    for cat_id, status, n, row_flag in rows:
        out[cat_id][status] = out[cat_id].get(status, 0) + int(n)
        flag = row_flag
    for key, n in staged(session, flag=flag).items():
        part = key.split("|")
        if part[0] == "c" and (origin is None or part[3] == origin):
            by_status = out[int(part[1])]
            by_status[part[2]] = by_status.get(part[2], 0) + n
    return dict(out)


def live_subquery(session: Session) -> Any:
    """One row: `n`, how many examples are not rejected, and `staged`, the flag to pass to
    `live_total` (a subquery, so a caller can read it in the same round trip as other rows)."""
    return LIVE_SUBQUERIES[is_pg(session)]


def live_total(session: Session, n: int, flag: object) -> int:
    """`live_subquery`'s count with this transaction's staged deltas added."""
    for key, delta in staged(session, flag=flag).items():
        part = key.split("|")
        if part[0] == "c" and part[2] != ExampleStatus.REJECTED.value:
            n += delta
    return int(n)


def live_examples(session: Session) -> int:
    """How many examples are not rejected (the near-duplicate index holds these)."""
    n, flag = session.execute(_LIVE_ROW[is_pg(session)]).one()
    return live_total(session, int(n), flag)


def _staged_people(session: Session, flag: object = ...) -> dict[int, list[tuple[str, int]]]:
    out: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for key, n in staged(session, flag=flag).items():
        part = key.split("|")
        if part[0] == "p":
            out[int(part[1])].append((part[2], n))
    return out


_PERSON = (
    ContributorCount.written,
    ContributorCount.approved,
    ContributorCount.pending,
    ContributorCount.reviews,
)


_PERSON_ROW = {
    pg: select(*_PERSON, _flag_column(pg)).where(
        ContributorCount.contributor_id == bindparam("cid")
    )
    for pg in (False, True)
}
_TOP_FLOOR = (
    select(ContributorCount.score)
    .where(ContributorCount.score > 0)
    .order_by(ContributorCount.score.desc())
    .offset(bindparam("skip", type_=Integer))
    .limit(1)
    .scalar_subquery()
)
_TOP_ROWS = {
    pg: select(ContributorCount.contributor_id, *_PERSON, _flag_column(pg)).where(
        ContributorCount.score >= func.coalesce(_TOP_FLOOR, 1)
    )
    for pg in (False, True)
}


def contributor_tally(session: Session, contributor_id: int) -> Tally:
    """One person's all-time counts (read as columns: the row changes under the session)."""
    row = session.execute(_PERSON_ROW[is_pg(session)], {"cid": contributor_id}).first()
    tally = Tally(*(int(v) for v in row[:4])) if row is not None else Tally()
    for code, n in _staged_people(session, row[4] if row is not None else ...).get(
        contributor_id, []
    ):
        tally = tally.plus(code, n)
    return tally


def top_contributors(session: Session, limit: int) -> list[tuple[int, Tally]]:
    """The `limit` people with the highest score (> 0), ties by lower id: one index range."""
    if limit <= 0:
        return []

    def read(k: int) -> tuple[dict[int, Tally], object]:
        found: dict[int, Tally] = {}
        flag: object = ...
        for cid, w, a, p, r, row_flag in session.execute(_TOP_ROWS[pg], {"skip": k - 1}):
            found[cid], flag = Tally(w, a, p, r), row_flag
        return found, flag

    pg = is_pg(session)
    rows, flag = read(limit)
    pending = _staged_people(session, flag)
    if pending:  # enough rows that the people whose staged changes move cannot push anyone out
        rows, _ = read(limit + len(pending))
    for cid, deltas in pending.items():
        if cid not in rows:
            rows[cid] = contributor_tally(session, cid)  # staged deltas included
            continue
        for code, n in deltas:
            rows[cid] = rows[cid].plus(code, n)
    ranked = sorted(
        ((cid, t) for cid, t in rows.items() if t.score > 0), key=lambda r: (-r[1].score, r[0])
    )
    return ranked[:limit]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# The window's rows one by one, for window_tallies (every person's tally, staged deltas
# added in Python). A GROUP BY person straight on contributor_days makes SQLite walk the
# person index (every day of every person) instead of the date range: top_in_window groups
# a UNION ALL subquery instead, whose arms each read their date index range.
_WINDOW_DAYS = select(
    ContributorDay.contributor_id,
    ContributorDay.written,
    ContributorDay.approved,
    ContributorDay.reviews,
).where(ContributorDay.day > bindparam("first_day"))
_PARTIAL_WRITTEN = select(Example.author_id, Example.status).where(
    Example.created_at >= bindparam("since"),
    Example.created_at < bindparam("next_day"),
    Example.author_id.is_not(None),
)
_PARTIAL_REVIEWS = select(Review.reviewer_id).where(
    Review.created_at >= bindparam("since"), Review.created_at < bindparam("next_day")
)


# The same window ranked in SQL: the rows are summed and sorted by the database (in C) and
# only `limit` come back, where summing them into Python objects cost a few µs a row (a
# week of a 1M-example store is ~15k rows). UNION ALL first, GROUP BY after: each arm reads
# its own date index range.
_WINDOW_UNION = (
    select(
        ContributorDay.contributor_id.label("cid"),
        ContributorDay.written.label("w"),
        ContributorDay.approved.label("a"),
        ContributorDay.reviews.label("r"),
    )
    .where(ContributorDay.day > bindparam("first_day"))
    .union_all(
        select(
            Example.author_id,
            literal_column("1"),
            case((Example.status == ExampleStatus.APPROVED, 1), else_=0),
            literal_column("0"),
        ).where(
            Example.created_at >= bindparam("since"),
            Example.created_at < bindparam("next_day"),
            Example.author_id.is_not(None),
        ),
        select(
            Review.reviewer_id, literal_column("0"), literal_column("0"), literal_column("1")
        ).where(Review.created_at >= bindparam("since"), Review.created_at < bindparam("next_day")),
    )
    .subquery("window")
)
_W, _A, _R = (func.sum(_WINDOW_UNION.c[k]) for k in ("w", "a", "r"))
_WINDOW_TOP = {
    pg: select(_WINDOW_UNION.c.cid, _W, _A, _R, _flag_column(pg))
    .group_by(_WINDOW_UNION.c.cid)
    .having(or_(_W > 0, _R > 0))
    .order_by((3 * _A + _W + _R).desc(), _WINDOW_UNION.c.cid)
    .limit(bindparam("limit", type_=Integer))
    for pg in (False, True)
}


def _window_bounds(since: datetime) -> tuple[date, dict[str, datetime]]:
    since = since.astimezone(UTC)
    first_day = since.date()
    return first_day, {"since": since, "next_day": _day_start(first_day + timedelta(days=1))}


def top_in_window(session: Session, since: datetime, limit: int) -> list[tuple[int, Tally]]:
    """The `limit` people with the highest score since `since` (ties by lower id), ranked by
    the database from the day counters and the rows of since's own day."""
    if limit <= 0:
        return []
    first_day, bounds = _window_bounds(since)
    rows = session.execute(
        _WINDOW_TOP[is_pg(session)], {"first_day": first_day, "limit": limit, **bounds}
    ).all()
    if staged(session, flag=rows[0][4] if rows else ...):
        # This transaction wrote: its deltas are not in the day counters yet. Rare (a reader
        # in a writing transaction), so the exact per-person path serves it.
        ranked = sorted(window_tallies(session, since).items(), key=lambda r: (-r[1].score, r[0]))
        return ranked[:limit]
    return [(int(cid), Tally(int(w), int(a), 0, int(r))) for cid, w, a, r, _ in rows]


def window_tallies(session: Session, since: datetime) -> dict[int, Tally]:
    """Per person: examples written since `since` (and of those, approved) and reviews given.

    Whole UTC days after `since` come from the day counters; the part of since's own day is
    counted from the rows, through the created_at indexes (at most one day of activity).
    """
    first_day, bounds = _window_bounds(since)
    out: dict[int, Tally] = defaultdict(Tally)
    for cid, w, a, r in session.execute(_WINDOW_DAYS, {"first_day": first_day}):
        out[cid] = Tally(out[cid].written + w, out[cid].approved + a, 0, out[cid].reviews + r)
    for author, status in session.execute(_PARTIAL_WRITTEN, bounds):
        assert author is not None  # the statement keeps authored rows only
        out[author] = out[author].plus("w", 1).plus("a", int(status == ExampleStatus.APPROVED))
    for (reviewer,) in session.execute(_PARTIAL_REVIEWS, bounds):
        out[reviewer] = out[reviewer].plus("r", 1)
    for key, n in staged(session).items():
        part = key.split("|")
        if part[0] == "d" and date.fromisoformat(part[2]) > first_day:
            out[int(part[1])] = out[int(part[1])].plus(part[3], n)
    return {cid: t for cid, t in out.items() if t.written or t.reviews}


def read_all(session: Session) -> Snapshot:
    """Every counter as stored (with this transaction's staged deltas)."""
    snap = Snapshot()
    cats = select(
        CategoryCount.category_id, CategoryCount.status, CategoryCount.origin, CategoryCount.n
    )
    for cat_id, status, origin, n in session.execute(cats):
        if n:
            snap.categories[(cat_id, status, origin)] = n
    for cid, w, a, p, r in session.execute(select(ContributorCount.contributor_id, *_PERSON)):
        snap.people[cid] = Tally(w, a, p, r)
    days = select(
        ContributorDay.contributor_id,
        ContributorDay.day,
        ContributorDay.written,
        ContributorDay.approved,
        ContributorDay.reviews,
    )
    for cid, day, w, a, r in session.execute(days):
        snap.days[(cid, day)] = Tally(w, a, 0, r)
    for key, n in staged(session).items():
        part = key.split("|")
        if part[0] == "c":
            ckey = (int(part[1]), part[2], part[3])
            snap.categories[ckey] = snap.categories.get(ckey, 0) + n
        elif part[0] == "p":
            pid = int(part[1])
            snap.people[pid] = snap.people.get(pid, Tally()).plus(part[2], n)
        else:
            dkey = (int(part[1]), date.fromisoformat(part[2]))
            snap.days[dkey] = snap.days.get(dkey, Tally()).plus(part[3], n)
    snap.categories = {k: v for k, v in snap.categories.items() if v}
    snap.people = {k: v for k, v in snap.people.items() if v != Tally()}
    snap.days = {k: v for k, v in snap.days.items() if v != Tally()}
    return snap


def recount(session: Session) -> Snapshot:
    """The same counts computed from the examples and reviews themselves (a full scan)."""
    snap = Snapshot()
    examples = select(
        Example.category_id, Example.status, Example.origin, Example.author_id, Example.created_at
    )
    for cat_id, status, origin, author_id, created in session.execute(examples):
        ckey = (cat_id, ExampleStatus(status).value, str(origin.value))
        snap.categories[ckey] = snap.categories.get(ckey, 0) + 1
        if author_id is None:
            continue
        codes = ["w"] + (["a"] if status == ExampleStatus.APPROVED else [])
        person = snap.people.get(author_id, Tally())
        dkey = (author_id, created.astimezone(UTC).date())
        day = snap.days.get(dkey, Tally())
        for code in codes:
            person, day = person.plus(code, 1), day.plus(code, 1)
        if status == ExampleStatus.PENDING:
            person = person.plus("p", 1)
        snap.people[author_id], snap.days[dkey] = person, day
    for reviewer_id, created in session.execute(select(Review.reviewer_id, Review.created_at)):
        snap.people[reviewer_id] = snap.people.get(reviewer_id, Tally()).plus("r", 1)
        dkey = (reviewer_id, created.astimezone(UTC).date())
        snap.days[dkey] = snap.days.get(dkey, Tally()).plus("r", 1)
    return snap


__all__ = [
    "LIVE_SUBQUERIES",
    "Snapshot",
    "Tally",
    "category_status_counts",
    "contributor_tally",
    "is_pg",
    "live_examples",
    "live_subquery",
    "live_total",
    "read_all",
    "recount",
    "staged",
    "top_contributors",
    "top_in_window",
    "window_tallies",
]
