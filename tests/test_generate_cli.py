"""`crowdtune generate` reads Settings and passes plain values; clear message without an LLM."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.cli import main
from tests.dbs import TestDatabase
from tests.gen_helpers import drafts, usage_outcomes
from tests.llm_double import LlmDouble, Reply, generated_examples, running_double


@pytest.fixture
def env(db: TestDatabase, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> TestDatabase:
    monkeypatch.chdir(str(tmp_path))  # no stray .env from the working folder
    monkeypatch.setenv("DATABASE_URL", db.url)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return db


@pytest.fixture
def llm() -> Iterator[LlmDouble]:
    with running_double() as double:
        yield double


def test_generate_against_configured_endpoint(
    env: TestDatabase,
    llm: LlmDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    monkeypatch.setenv("CROWDTUNE_LLM_MODEL", "local-llama")
    code = main(["generate", "--category", "summarization", "--count", "4", "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "4 drafts stored" in out and "seed 3" in out
    assert "summarization" in out
    assert [b["model"] for b in llm.requests] == ["local-llama"]
    assert len(drafts(env)) == 4 and usage_outcomes(env) == ["ok"]


def test_no_llm_configured_is_a_clear_error(
    env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--count", "2"]) == 2
    err = capsys.readouterr().err
    assert "no LLM is configured" in err and "OPENAI_BASE_URL" in err


def test_dry_run_needs_no_llm_and_prints_prompts(
    env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--category", "open_qa", "--dry-run", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "##### open_qa" in out and "=== user ===" in out and "dry run" in out
    assert drafts(env) == []


def test_unknown_category_is_reported(
    env: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--category", "jokes", "--dry-run"]) == 2
    assert "jokes" in capsys.readouterr().err


def test_every_request_failing_exits_nonzero(
    env: TestDatabase,
    llm: LlmDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.llm_double import Reply

    llm.push(Reply(status=401))
    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    assert main(["generate", "--category", "open_qa", "--count", "2"]) == 1
    assert "request client_error_401 1" in capsys.readouterr().out


def test_each_dropped_draft_is_printed_with_its_reason(
    env: TestDatabase,
    llm: LlmDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = generated_examples("closed_qa", 4, 5, True)
    items[0]["context"] = ""  # closed QA needs a reference text
    items[1]["response"] = 42  # type: ignore[assignment]
    items[2]["response"] += " Mail jane.doe@initech.example for more."
    llm.push(Reply(content=json.dumps({"examples": items})))
    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    argv = ["generate", "--category", "closed_qa", "--count", "4", "--per-request", "4"]
    assert main([*argv, "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "dropped in closed_qa:" in out
    lines = out.splitlines()
    start = lines.index("dropped in closed_qa:")
    dropped = [ln for ln in lines[start + 1 :] if ln.startswith("  ")]
    assert len(dropped) == 3, out
    assert "  wrong field types: response is int, not a string: (item 2 of the answer)" in dropped
    assert any("invalid: context:" in ln and items[0]["instruction"][:20] in ln for ln in dropped)
    assert any("personal data in the response" in ln for ln in dropped)
