"""Engines, session factories and the one transaction scope everybody uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalize_url(url: str) -> str:
    """Map bare `postgresql://` URLs to the psycopg 3 driver we ship with."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL + busy timeout let a web process and a worker share one file; FKs are off by default.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, sqlite_begin: str = "IMMEDIATE", **kwargs: Any) -> Engine:
    """Build an engine for `url`, with SQLite tuned for several processes on one file.

    On SQLite every transaction starts with `BEGIN IMMEDIATE` by default, so read-then-write
    transactions never fail with SQLITE_BUSY_SNAPSHOT; long read-only jobs pass "DEFERRED".
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
        event.listen(engine, "connect", _sqlite_pragmas)
        begin = f"BEGIN {sqlite_begin}"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


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
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
