"""`crowdtune nudge --dry-run` when nobody would be asked: it says why, with counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from store.contributors import set_opt_out
from tests.dbs import TestDatabase
from tests.factories import person


@pytest.fixture
def env(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestDatabase:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def test_no_contributors_yet_says_where_people_come_from(
    env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nudge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "there are no contributors yet" in out and "first use the bot" in out


def test_everyone_out_is_counted_by_reason(
    env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    with env.session() as s:
        for user in ("U1", "U2"):
            set_opt_out(s, person(s, user), True)
    assert main(["nudge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "nobody to nudge now: 2 contributor(s): 2 opted out" in out
