"""`crowdtune report` end to end: the HTML file, the JSON with the same figures, --since."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.dbs import TestDatabase
from tests.test_report_sourcing import _fixture


@pytest.fixture
def env(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_LLM_PRICE_PROMPT", "0.5")
    monkeypatch.setenv("CROWDTUNE_LLM_PRICE_COMPLETION", "2")
    return tmp_path


def test_report_writes_html_and_prints_json(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fixture(db)
    assert main(["report"]) == 0  # report.html by default
    assert "report written to" in capsys.readouterr().out
    page = (env / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 5 and "http" not in page
    assert main(["report", "--json", "--out", "out/r.html"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout is the JSON alone
    assert "out/r.html" in captured.err and (env / "out" / "r.html").is_file()
    llm = next(o for o in doc["origins"] if o["origin"] == "llm")
    assert llm["person_minutes_per_accepted"] == 2.0 and llm["tokens_per_accepted"] == 2250
    assert doc["prices_per_million_tokens"] == {"prompt_per_mtok": 0.5, "completion_per_mtok": 2.0}
    # The same figures as the page shows.
    assert "2,250" in page and "0.00225" in page


def test_since_and_a_bad_date(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fixture(db)
    assert main(["report", "--json", "--since", "2026-11-09"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["since"] == "2026-11-09T00:00:00+00:00"
    assert [o["origin"] for o in doc["origins"]] == ["llm", "imported", "transformed"]
    assert not (env / "report.html").exists()  # --json alone writes no page
    with pytest.raises(SystemExit):
        main(["report", "--since", "last week"])
    assert "is not a date like 2026-11-30" in capsys.readouterr().err
