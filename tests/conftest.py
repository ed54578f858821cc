"""Fixtures shared by the whole suite: real SQLite and PostgreSQL databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbs import TestDatabase, migrated_database, selected_kinds

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every test that asks for a database runs once per selected kind.
    if "db_kind" in metafunc.fixturenames:
        metafunc.parametrize("db_kind", selected_kinds(), scope="session")


@pytest.fixture(scope="session")
def _database(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    with migrated_database(db_kind, tmp_path_factory.mktemp(db_kind)) as database:
        yield database


@pytest.fixture
def db(_database: TestDatabase) -> TestDatabase:
    """A migrated database of the current kind, emptied and re-seeded for this test."""
    _database.reset()
    return _database
