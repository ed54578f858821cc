"""Real test databases: a SQLite file and a fresh PostgreSQL database per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from migrations import runner
from store.categories import seed_default_categories
from store.db import make_engine, make_session_factory, session_scope
from store.models import Base

PG_ADMIN_URL = os.environ.get(
    "CROWDTUNE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_START_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
    "(or run only SQLite with CROWDTUNE_TEST_DATABASES=sqlite)"
)


def selected_kinds() -> list[str]:
    """Database kinds the suite runs on: CROWDTUNE_TEST_DATABASES, both by default."""
    raw = os.environ.get("CROWDTUNE_TEST_DATABASES", "sqlite,postgresql")
    kinds = [k.strip() for k in raw.split(",") if k.strip()]
    unknown = set(kinds) - {"sqlite", "postgresql"}
    if unknown:
        raise ValueError(f"CROWDTUNE_TEST_DATABASES: unknown kinds {sorted(unknown)}")
    return kinds


@dataclass
class TestDatabase:
    """A migrated, real database for tests: its URL, engine and session factory."""

    __test__ = False
    kind: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One committed transaction."""
        with session_scope(self.sessions) as s:
            yield s

    def reset(self) -> None:
        """Empty every table, restart the id sequences, seed the default categories again."""
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with self.engine.begin() as conn:
            if self.kind == "postgresql" and _is_superuser(conn):
                # What TRUNCATE … RESTART IDENTITY does, in a tenth of its time (it makes new
                # files for 20 tables and their indexes, ~0.4 s, before each of ~540 tests):
                # rows deleted with the triggers (our counters, the foreign keys) off, as
                # TRUNCATE fires none, then every sequence the tables own back to its start.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))
                conn.execute(_RESTART_OWNED_SEQUENCES, {"tables": tables})
            elif self.kind == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))
        with self.session() as s:
            seed_default_categories(s)


# Sequences owned by a column of one of `tables` (serial or identity), restarted at their start.
_RESTART_OWNED_SEQUENCES = text(
    """
    SELECT setval(s.seqrelid::regclass, s.seqstart, false)
    FROM pg_sequence s
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
    JOIN pg_class t ON d.refclassid = 'pg_class'::regclass AND t.oid = d.refobjid
    WHERE d.deptype IN ('a', 'i')
      AND t.relnamespace = current_schema()::regnamespace
      AND t.relname = ANY(:tables)
    """
)


def _is_superuser(conn: Connection) -> bool:
    # Turning triggers off needs a superuser (the suite's `postgres`); others TRUNCATE.
    return conn.exec_driver_sql("SHOW is_superuser").scalar() == "on"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a uniquely named PostgreSQL database, yield its URL, drop it afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"crowdtune_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}\n{PG_START_HINT}"
        ) from exc
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_database(kind: str, tmp_dir: Path) -> Iterator[str]:
    """An empty database of `kind` (no tables); yields its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_dir / f'crowdtune-{uuid.uuid4().hex[:8]}.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@contextmanager
def migrated_database(kind: str, tmp_dir: Path) -> Iterator[TestDatabase]:
    """A database of `kind` brought to head by Alembic, with default categories."""
    with empty_database(kind, tmp_dir) as url:
        runner.upgrade(url)
        engine = make_engine(url)
        db = TestDatabase(kind, url, engine, make_session_factory(engine))
        db.reset()
        try:
            yield db
        finally:
            engine.dispose()


def table_names(engine: Engine) -> set[str]:
    """Tables in the database, without Alembic's own."""
    return set(inspect(engine).get_table_names()) - {"alembic_version"}
