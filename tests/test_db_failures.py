"""A locked SQLite file and a restarted PostgreSQL: short waits, words instead of tracebacks,
one warning line per broken connection, and recovery without a restart."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, text, update

from bot.config import Settings
from bot.runtime import Runtime
from store.db import (
    SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS,
    DatabaseBusy,
    DatabaseUnavailable,
    make_engine,
    make_session_factory,
    session_scope,
)
from store.models import Category
from tests.dbs import TestDatabase
from tests.slack_fixtures import double, slack
from tests.slack_requests import SlackApp

__all__ = ["double", "slack"]  # fixtures


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_the_slack_process_waits_at_most_two_seconds_for_sqlite(db: TestDatabase) -> None:
    if db.kind != "sqlite":
        pytest.skip("SQLite's busy timeout")
    rt = Runtime(Settings(database_url=db.url), interactive=True)
    try:
        with rt.engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert busy == SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS == 2000
    finally:
        rt.close()


def test_a_locked_sqlite_file_is_a_busy_error_in_words(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    if db.kind != "sqlite":
        pytest.skip("SQLite's file lock")
    engine = make_engine(db.url, busy_timeout_ms=50)
    holder = create_engine(db.url, connect_args={"isolation_level": None})
    try:
        with holder.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            with (
                pytest.raises(DatabaseBusy) as err,
                caplog.at_level(logging.WARNING),
                session_scope(make_session_factory(engine)) as s,
            ):
                s.execute(update(Category).values(target=Category.target + 1))
            conn.exec_driver_sql("ROLLBACK")
        assert "database is busy, submit again" in err.value.message
        assert not _tracebacks(caplog)
        # Once the lock is gone the same engine writes again.
        with session_scope(make_session_factory(engine)) as s:
            s.execute(update(Category).values(target=Category.target + 1))
    finally:
        engine.dispose()
        holder.dispose()


def _kill_backends(db: TestDatabase) -> int:
    # What a PostgreSQL restart does to every open connection of the app's database.
    admin = create_engine(db.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        admin.dispose()


def test_after_a_postgresql_restart_the_app_recovers_with_one_line_per_connection(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    if db.kind != "postgresql":
        pytest.skip("PostgreSQL connections")
    engine = make_engine(db.url, pool_size=4)
    factory = make_session_factory(engine)
    try:
        # Four pooled connections, all idle in the pool when the server restarts.
        conns = [engine.connect() for _ in range(4)]
        for c in conns:
            c.execute(text("SELECT 1"))
            c.close()
        # One more checked out, mid-transaction, when the server goes away.
        broken = factory()
        broken.execute(text("SELECT 1"))
        assert _kill_backends(db) >= 5
        with caplog.at_level(logging.WARNING):
            with pytest.raises(DatabaseUnavailable), session_scope(factory) as s:
                s.execute(text("SELECT 1"))
                broken.execute(text("SELECT 1"))
            broken.close()
            for _ in range(10):
                with session_scope(factory) as s:
                    assert s.execute(text("SELECT 1")).scalar() == 1
        lost = [r for r in caplog.records if "database connection lost" in r.getMessage()]
        assert 1 <= len(lost) <= 5
        assert all(r.levelno == logging.WARNING and "\n" not in r.getMessage() for r in lost)
        assert not _tracebacks(caplog)
    finally:
        engine.dispose()


def test_the_slack_app_rides_out_a_postgresql_restart_mid_burst(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    if slack.db.kind != "postgresql":
        pytest.skip("PostgreSQL connections")
    with caplog.at_level(logging.INFO):
        for i in range(10):
            assert slack.command(f"UBURST{i}", "stats").status == 200
        _kill_backends(slack.db)  # the server restarts with the app's connections open
        for i in range(10, 30):
            assert slack.command(f"UBURST{i}", "stats").status == 200
        slack.settle()
    assert not _tracebacks(caplog)
    lost = [r for r in caplog.records if "database connection lost" in r.getMessage()]
    assert 1 <= len(lost) <= 10  # at most one per pooled connection
    replies = [c for c in slack.double.calls if c.method.startswith("response_url:")]
    # One reply per command: an answer already sent is never followed by an error.
    assert sorted(c.method for c in replies) == sorted({c.method for c in replies})
    assert len(replies) == 30
    # Each reply is the stats, or (for a request caught on a dying connection) the words.
    assert all(
        "Progress toward targets" in str(c.args.get("text")) or "not answering" in str(c.args)
        for c in replies
    )
