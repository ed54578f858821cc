"""Alembic is the only way the schema changes: head equals the models, and base is empty."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

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


def test_a_populated_database_upgrades_through_every_revision(db_kind: str, tmp_path: Path) -> None:
    # SQLite batch mode rebuilds tables (0008 rebuilds categories): with rows that refer to
    # them, that must neither fail on a foreign key nor lose or miscount a row.
    with empty_database(db_kind, tmp_path) as url:
        runner.upgrade(url, "0001")
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO categories (slug, name, guideline, needs_context, target, "
                        "active, min_instruction_chars, min_response_chars, sort_order, "
                        "created_at) VALUES ('open_qa', 'Open QA', 'Ask.', false, 10, true, "
                        "10, 10, 1, '2026-01-01')"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO examples (category_id, instruction, context, response, "
                        "status, origin, content_hash, flags, revision, review_count, "
                        "created_at, updated_at) SELECT id, 'Why is the sky blue?', '', "
                        "'Rayleigh scattering.', 'approved', 'human', 'h1', '[]', 1, 0, "
                        "'2026-01-01', '2026-01-01' FROM categories"
                    )
                )
            runner.upgrade(url)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM examples")).scalar() == 1
                counted = conn.execute(text("SELECT status, origin, n FROM category_counts")).all()
                assert [tuple(r) for r in counted] == [("approved", "human", 1)]
                version = conn.execute(text("SELECT guideline_version FROM examples")).scalar()
                assert version == 1
        finally:
            engine.dispose()
