"""Filling a bench database fast: bulk inserts with the counter triggers out of the way, then
one recount of the counter tables, the way a restore would.

Going through the triggers costs a counter upsert per row (SQLite) or a staged delta per
statement and a keyed apply at commit (PostgreSQL): 67k examples took 275 s that way. Here
SQLite's triggers are dropped for the load and created again after it, PostgreSQL's are
skipped with `session_replication_role = replica` (COPY, no triggers, no foreign-key checks);
the secondary indexes of examples and reviews are dropped and built again at the end, as
pg_restore does; and the counters are rebuilt from the rows with migration 0009's own backfill
statements, so they are exactly what the triggers would have kept (tests/test_counters.py
checks both). bench/scale_bench.py's corpus, 0 → 1M examples (+500k reviews), measured at a
load average of 2.6-4.6 on 2 shared cores: 74 s on SQLite, 52 s on PostgreSQL.

    from bench.bulk import fast_fill
    ids = fast_fill(engine, ({"category_id": c, "instruction": ..., ...} for ...))

`fast_fill` is the entry point for other benches; `BulkLoader` is what it uses, for a bench
that grows one database in steps (bench/scale_bench.py) or adds reviews of its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.types import utcnow
from store.validation import content_hash

# The migration that owns the counters' triggers and backfill (its module name is a number).
COUNTERS: Any = importlib.import_module("migrations.versions.0009_counters")
BATCH = 5_000
SQLITE_CACHE_KIB = 512 * 1024

EXAMPLE_COLUMNS = (
    "category_id",
    "instruction",
    "context",
    "response",
    "status",
    "origin",
    "author_id",
    "content_hash",
    "flags",
    "revision",
    "review_count",
    "created_at",
    "updated_at",
)
REVIEW_COLUMNS = ("example_id", "reviewer_id", "verdict", "rating", "created_at")
# Every column above that a row may leave out; content_hash and the times are derived.
_EXAMPLE_DEFAULTS: dict[str, Any] = {
    "context": "",
    "status": "approved",
    "origin": "imported",
    "author_id": None,
    "flags": "[]",
    "revision": 1,
    "review_count": 0,
}
_REVIEW_DEFAULTS: dict[str, Any] = {"verdict": "approve", "rating": None}
# (name, CREATE statement) of the loaded tables' indexes that no constraint owns.
_TABLES = "('examples', 'reviews')"
_SQLITE_INDEXES = text(
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
    f"AND tbl_name IN {_TABLES}"
)
_PG_INDEXES = text(
    "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
    f"AND i.tablename IN {_TABLES} AND NOT EXISTS "
    "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
)


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


class BulkLoader:
    """Inserts rows in bulk with the counters' triggers and the secondary indexes of examples
    and reviews out of the way; on close (or leaving the `with` block) builds the indexes
    again, recounts the counters, puts the triggers back and refreshes statistics."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._open = True
        with engine.begin() as conn:
            # The secondary indexes go too and are built again at the end, from sorted keys:
            # inserting a million random keys (content_hash, created_at) one by one into each
            # index is most of a load's time. Constraint indexes (keys, unique) stay.
            self._indexes = list(conn.execute(_SQLITE_INDEXES if self.sqlite else _PG_INDEXES))
            for name, _ in self._indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
            if self.sqlite:
                for name in COUNTERS.SQLITE_TRIGGERS:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))

    def __enter__(self) -> BulkLoader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stamp(self, when: datetime) -> Any:
        """A timestamp as the column stores it (SQLite: SQLAlchemy's naive UTC text)."""
        if self.sqlite:
            return when.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return when

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> range:
        """Insert `rows` (tuples in `columns` order) into `table` in one transaction; returns
        their ids (contiguous: one writer, an empty-or-growing table)."""
        if not rows:
            return range(0)
        first = self._max_id(table) + 1
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            if self.sqlite:
                marks = ", ".join("?" for _ in columns)
                # A big page cache: the random keys of the indexes (content_hash, created_at)
                # otherwise evict each other's pages on every row.
                cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
                cur.execute("BEGIN")
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                )
                cur.execute("COMMIT")
            else:
                cur.execute("SET session_replication_role = replica")  # no triggers, no FK checks
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()
                cur.execute("SET session_replication_role = DEFAULT")
                raw.commit()
        finally:
            raw.close()
        ids = range(first, first + len(rows))
        assert self._max_id(table) == ids[-1], f"{table} ids are not contiguous"
        return ids

    def examples(self, rows: Iterable[Mapping[str, Any]], batch: int = BATCH) -> list[int]:
        """Insert examples given as column → value maps (defaults: approved, imported, no
        author, created now, content_hash of the text); returns their ids in order."""
        now = self.stamp(utcnow())
        ids: list[int] = []
        for chunk in _batches(rows, batch):
            tuples = []
            for row in chunk:
                full = {**_EXAMPLE_DEFAULTS, **row}
                if "content_hash" not in full:
                    full["content_hash"] = content_hash(
                        full["instruction"], full["context"], full["response"]
                    )
                for col in ("created_at", "updated_at"):
                    full[col] = self.stamp(full[col]) if col in full else now
                tuples.append(tuple(full[c] for c in EXAMPLE_COLUMNS))
            ids.extend(self.insert("examples", EXAMPLE_COLUMNS, tuples))
        return ids

    def reviews(self, rows: Iterable[Mapping[str, Any]], batch: int = BATCH) -> int:
        """Insert reviews given as column → value maps (example_id, reviewer_id; verdict
        approve, created now); returns how many. review_count is the caller's to set."""
        now = self.stamp(utcnow())
        n = 0
        for chunk in _batches(rows, batch):
            tuples = []
            for row in chunk:
                full = {**_REVIEW_DEFAULTS, **row}
                full["created_at"] = self.stamp(full["created_at"]) if "created_at" in row else now
                tuples.append(tuple(full[c] for c in REVIEW_COLUMNS))
            n += len(self.insert("reviews", REVIEW_COLUMNS, tuples))
        return n

    def _max_id(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one())

    def close(self) -> None:
        """Build the indexes again, recount the counters from the rows, restore SQLite's
        triggers, refresh the planner's statistics (a running store has them; a fresh load
        would be planned blind)."""
        if not self._open:
            return
        self._open = False
        with self.engine.begin() as conn:
            if self.sqlite:
                # A pooled connection may hold the schema as it was before the load dropped
                # the indexes, and SQLite checks CREATE INDEX against it when preparing:
                # reading the schema table first makes it load the current one.
                conn.execute(text("SELECT count(*) FROM sqlite_master"))
            for _, create in self._indexes:
                conn.execute(text(create))
            for table in ("contributor_days", "contributor_counts", "category_counts"):
                conn.execute(text(f"DELETE FROM {table}"))
            day = "date({col})" if self.sqlite else "({col} AT TIME ZONE 'UTC')::date"
            for statement in COUNTERS._backfill(day):
                conn.execute(text(statement))
            if self.sqlite:
                for statement in COUNTERS.SQLITE_TRIGGERS.values():
                    conn.execute(text(statement))
                conn.execute(text("ANALYZE"))
        if not self.sqlite:
            # VACUUM too: it sets the visibility map, which index-only scans rely on (and
            # autovacuum would otherwise do it in the middle of a measurement).
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))


def fast_fill(
    engine: Engine,
    examples: Iterable[Mapping[str, Any]],
    reviews: Iterable[Mapping[str, Any]] = (),
) -> list[int]:
    """Bulk-insert `examples` (then `reviews`, column → value maps) with the counter triggers
    bypassed, recount the counters once; returns the new examples' ids in order."""
    with BulkLoader(engine) as loader:
        ids = loader.examples(examples)
        loader.reviews(reviews)
    return ids


__all__ = ["EXAMPLE_COLUMNS", "REVIEW_COLUMNS", "BulkLoader", "fast_fill"]
