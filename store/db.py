"""Engines, session factories and the one transaction scope everybody uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
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


def normalize_url(url: str) -> str:
    """Map bare `postgresql://` URLs to the psycopg 3 driver we ship with."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


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
    url = normalize_url(url)
    parsed = make_url(url)
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
