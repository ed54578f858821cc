"""Alembic is the only way the schema changes: head equals the models, and base is empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from migrations import runner
from store.db import make_engine
from store.models import Base
from tests.dbs import empty_database, table_names


def test_single_head() -> None:
    script = ScriptDirectory.from_config(runner.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "two revisions share a parent: re-chain them"


def test_upgrade_matches_models_and_downgrade_empties(db_kind: str, tmp_path: Path) -> None:
    with empty_database(db_kind, tmp_path) as url:
        runner.upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_type": True})
                drift = compare_metadata(ctx, Base.metadata)
            assert drift == [], f"models and migrations disagree: {drift}"
            assert table_names(engine) == set(Base.metadata.tables)
            runner.downgrade(url, "base")
            assert table_names(engine) == set()
            # And back up again: a downgrade must leave a database that can be upgraded.
            runner.upgrade(url)
            assert table_names(engine) == set(Base.metadata.tables)
        finally:
            engine.dispose()


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db"])
def test_plain_postgres_urls_use_psycopg(url: str) -> None:
    from store.db import normalize_url

    assert normalize_url(url) == "postgresql+psycopg://u@h/db"
