"""Engines, session factories and the one transaction scope everybody uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from store.errors import DomainError

# Background work (jobs, imports, the CLI) may wait long for a lock; a person waiting on a
# form may not: Slack gives up after 3 s, so interactive processes wait at most 2 s.
SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS = 2_000
log = logging.getLogger(__name__)


class DatabaseProblem(DomainError, SQLAlchemyError):  # type: ignore[misc]
    """A database failure to report in words: still a SQLAlchemyError for callers (jobs) that
    catch those, and a DomainError for listeners that turn it into a reply."""

    def __str__(self) -> str:
        return self.message


class DatabaseBusy(DatabaseProblem):
    """Another writer held the database longer than we may wait; nothing was saved."""

    code = "database_busy"


class DatabaseUnavailable(DatabaseProblem):
    """The database connection broke (restart, network); nothing was saved."""

    code = "database_unavailable"


BUSY_MESSAGE = "The database is busy, submit again in a moment (nothing was saved)."
UNAVAILABLE_MESSAGE = "The database is not answering right now; nothing was saved. Try again."
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# A table every migrated crowdtune database has; its absence means "never migrated".
SCHEMA_MARKER_TABLE = "examples"
UPGRADE_HINT = "run 'crowdtune db upgrade'"


class DatabaseUnusable(DomainError):
    """DATABASE_URL points at something crowdtune cannot use; the message says what to do."""

    code = "database_unusable"


class SchemaMissing(DatabaseUnusable):
    """The database exists (or would be created) but was never migrated."""

    code = "schema_missing"


def normalize_url(url: str) -> str:
    """Map bare `postgresql://` URLs to the psycopg 3 driver we ship with."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def masked_url(url: str) -> str:
    """The URL as it may be shown to a person: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def parse_url(url: str) -> URL:
    """The parsed URL of a database crowdtune supports, or DatabaseUnusable saying why not."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError as exc:
        raise DatabaseUnusable(
            f"DATABASE_URL {url!r} is not a database URL; use sqlite:///crowdtune.db or "
            "postgresql://user:password@host:5432/name"
        ) from exc
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise DatabaseUnusable(
            f"DATABASE_URL {masked_url(url)}: {parsed.get_backend_name()} is not supported; "
            "crowdtune runs on SQLite (sqlite:///crowdtune.db) or PostgreSQL "
            "(postgresql://user:password@host:5432/name)"
        )
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None  # a URI filename: sqlite3 decides, we do not guess
    return Path(str(parsed.database))


def schema_missing(url: str) -> SchemaMissing:
    """The error of a database that has no crowdtune tables."""
    return SchemaMissing(
        f"the database at {masked_url(url)} has no crowdtune tables: {UPGRADE_HINT}"
    )


def require_existing_file(url: str) -> None:
    """Refuse a SQLite URL whose file is missing or empty, before anything connects to it."""
    path = sqlite_file(url)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        # (Connecting to an empty file would turn on WAL and write to it.)
        raise schema_missing(url)


def require_schema(engine: Engine, url: str) -> None:
    """Raise SchemaMissing unless the database was migrated (a SQLite file is never created)."""
    require_existing_file(url)
    if not inspect(engine).has_table(SCHEMA_MARKER_TABLE):
        raise schema_missing(url)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def explain_database_error(exc: SQLAlchemyError, url: str) -> DomainError:
    """One line for a connection or schema failure: the URL (password masked) and what to do."""
    shown = masked_url(url)
    detail = _first_line(exc)
    lowered = detail.lower()
    if isinstance(exc, NoSuchModuleError):
        try:
            parse_url(url)
        except DatabaseUnusable as unusable:
            return unusable
        return DatabaseUnusable(f"cannot load the database driver for {shown}: {detail}")
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return schema_missing(url)
    if "database" in lowered and "does not exist" in lowered:
        name = make_url(normalize_url(url)).database
        return DatabaseUnusable(
            f"the database at {shown} does not exist: create it (createdb {name}) and then "
            f"{UPGRADE_HINT}"
        )
    if "connection refused" in lowered or "could not connect" in lowered:
        return DatabaseUnusable(
            f"cannot connect to the database at {shown}: connection refused; is the server "
            "running, and are DATABASE_URL's host and port right?"
        )
    if "password authentication failed" in lowered or "authentication" in lowered:
        return DatabaseUnusable(
            f"the database at {shown} refused the login: check the user and password in "
            "DATABASE_URL"
        )
    if "unable to open database file" in lowered:
        return DatabaseUnusable(
            f"cannot open the SQLite file of {shown}: does its folder exist and may we write it?"
        )
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnusable(f"lost the connection to the database at {shown}: {detail}")
    return DatabaseUnusable(f"the database at {shown} failed: {detail}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, busy_timeout_ms: int) -> None:
    # WAL + busy timeout let a web process and a worker share one file; FKs are off by default.
    cur = dbapi_conn.cursor()
    # The busy timeout first: switching to WAL itself waits for a lock.
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _warn_lost_connection(_dbapi_conn: Any, _record: Any, exception: BaseException | None) -> None:
    # One line per broken connection (a database restart, a dropped socket); the pool
    # reconnects on the next checkout (pool_pre_ping), so no traceback is needed.
    if exception is not None:
        first = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
        log.warning(
            "database connection lost (%s: %s); reconnecting", type(exception).__name__, first
        )


def make_engine(
    url: str,
    *,
    sqlite_begin: str = "IMMEDIATE",
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **kwargs: Any,
) -> Engine:
    """Build an engine for `url`, with SQLite tuned for several processes on one file.

    On SQLite every transaction starts with `BEGIN IMMEDIATE` by default, so read-then-write
    transactions never fail with SQLITE_BUSY_SNAPSHOT; long read-only jobs pass "DEFERRED".
    `busy_timeout_ms` bounds how long SQLite waits for another writer's lock.
    """
    if sqlite_begin not in ("IMMEDIATE", "DEFERRED"):
        raise ValueError("sqlite_begin must be IMMEDIATE or DEFERRED")
    parsed = parse_url(url)
    url = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        # pysqlite's own BEGIN handling fights SAVEPOINTs; let SQLAlchemy emit BEGIN itself.
        connect_args.setdefault("isolation_level", None)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
        begin = f"BEGIN {sqlite_begin}"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "invalidate", _warn_lost_connection)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        domain = _as_domain_error(exc)
        if domain is None:
            raise
        raise domain from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (the busy timeout ran out)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _as_domain_error(exc: DBAPIError) -> DomainError | None:
    # Lock waits and broken connections are ordinary events to report in words; anything
    # else is a bug and keeps its traceback.
    if is_busy(exc):
        return DatabaseBusy(BUSY_MESSAGE)
    if exc.connection_invalidated:
        return DatabaseUnavailable(UNAVAILABLE_MESSAGE)
    return None
