"""Real public data through the real `crowdtune` entrypoint, on SQLite and PostgreSQL.

Dolly 15k and Alpaca 52k are not on these machines; `bench.datasets` rebuilds their layouts
from the shared Self-Instruct and T0 files at run time (see its docstring for the rules).
The expected counts below are those files' real per-category counts under those rules,
pinned to the files' sha256 (from ../shared/datasets/README.md).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bench import datasets as ds
from bot.cli import main
from store.importing import _INFER_RULES, infer_category
from store.models import Example
from tests.conftest import SHARED
from tests.dbs import TestDatabase

DATASETS = SHARED / "datasets"
SHA256 = {
    ds.SEED_TASKS: "7779004fa198fdf27cf70a159363879d8a26c53329e11b436af17b3941875f48",
    ds.USER_ORIENTED: "81d60a117db495cecedecd9193504fd07c5b5a42f6699ef6b0f9da10fc22f42e",
    ds.T0: "e0a7cb92a20dbbdb00a7227af03658a06a7c12afafa103f88cccb0eecdb56617",
}
# 175 seed tasks + 252 user-oriented instructions, categorised by bench.datasets' rule.
SELF_INSTRUCT_COUNTS = {
    "brainstorming": 19,
    "classification": 33,
    "closed_qa": 250,
    "creative_writing": 23,
    "general_qa": 68,
    "information_extraction": 8,
    "open_qa": 13,
    "summarization": 13,
}
T0_SLICE_ROWS = 2_000
# The importer's inferred categories for that Alpaca-layout slice of T0.
T0_SLICE_COUNTS = {
    "brainstorming": 63,
    "classification": 106,
    "closed_qa": 480,
    "creative_writing": 119,
    "general_qa": 594,
    "information_extraction": 61,
    "open_qa": 442,
    "summarization": 135,
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared files converted once per module: Self-Instruct as Dolly, a T0 slice as Alpaca."""
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS} (they sit beside the checkout)")
    for name, digest in SHA256.items():
        actual = hashlib.sha256((DATASETS / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} changed (sha256 {actual}); re-pin the expected counts"
    out = tmp_path_factory.mktemp("real-data")
    rows = ds.spread(ds.t0_rows(DATASETS), T0_SLICE_ROWS)
    return {
        "dolly": ds.write_jsonl(ds.self_instruct_dolly(DATASETS), out / "self-instruct.jsonl"),
        "alpaca": ds.write_json_array(ds.t0_alpaca(rows), out / "t0-slice.json"),
    }


@pytest.fixture
def cli_db(db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> TestDatabase:
    """The test database, named in DATABASE_URL the way a user sets it."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `crowdtune ARGV` in-process; return its stdout (it must succeed)."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def stats(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`crowdtune stats --json`, parsed."""
    doc: dict[str, Any] = json.loads(run_cli(capsys, "stats", "--json"))
    return doc


def assert_counts(doc: dict[str, Any], status: str, expected: dict[str, int]) -> None:
    """Every category holds exactly `expected` examples in `status`, and none in the others."""
    assert doc["total"] == sum(expected.values())
    for slug, counts in doc["categories"].items():
        want = {s: 0 for s in ("approved", "pending", "draft", "rejected")}
        want[status] = expected.get(slug, 0)
        assert {s: counts[s] for s in want} == want, slug


def test_self_instruct_as_dolly_imports_with_real_counts_once(
    cli_db: TestDatabase, converted: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = converted["dolly"]
    records = ds.read_jsonl(path)
    assert Counter(r["category"] for r in records) == SELF_INSTRUCT_COUNTS

    out = run_cli(capsys, "import", str(path))
    assert "dolly format, 427 records read, 427 added, 0 already present" in out
    doc = stats(capsys)
    assert_counts(doc, "approved", SELF_INSTRUCT_COUNTS)

    out = run_cli(capsys, "import", str(path))
    assert "427 records read, 0 added, 427 already present" in out
    assert stats(capsys) == doc

    # The text arrives whole: the first seed task, stored under its line number.
    with cli_db.session() as s:
        first = s.scalars(select(Example).where(Example.source_ref == "line 1")).one()
        assert first.source == path.name
        assert first.instruction == records[0]["instruction"].strip()
        assert first.response == records[0]["response"].strip()
        assert first.category.slug == records[0]["category"]


def test_t0_slice_as_alpaca_imports_with_inferred_counts_once(
    cli_db: TestDatabase, converted: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = converted["alpaca"]
    # Near-duplicate scanning (tests/test_quality_import.py) would triple this test's time on
    # T0, whose passages recur under several templates; counts and idempotency are the point.
    out = run_cli(capsys, "import", str(path), "--status", "pending", "--near-duplicates", "off")
    assert f"alpaca format, {T0_SLICE_ROWS:,} records read, {T0_SLICE_ROWS:,} added" in out
    doc = stats(capsys)
    assert_counts(doc, "pending", T0_SLICE_COUNTS)

    out = run_cli(capsys, "import", str(path), "--status", "pending", "--near-duplicates", "off")
    assert f"0 added, {T0_SLICE_ROWS:,} already present" in out
    assert stats(capsys) == doc

    items = json.loads(path.read_text(encoding="utf-8"))
    with cli_db.session() as s:
        last = s.scalars(select(Example).where(Example.source_ref == f"item {T0_SLICE_ROWS}")).one()
        assert last.context == items[-1]["input"].strip()
        assert last.response == items[-1]["output"].strip()


def _regex_only_category(instruction: str, context: str) -> str:
    """The inference rule as written, without infer_category's substring pre-check."""
    for pattern, slug in _INFER_RULES:
        if pattern.search(instruction):
            return slug
    if context.strip():
        return "closed_qa"
    return "open_qa" if instruction.rstrip().endswith("?") else "general_qa"


def test_fast_category_inference_agrees_with_the_rules_on_real_data(
    converted: dict[str, Path],
) -> None:
    pairs = [(r["instruction"], r["context"]) for r in ds.read_jsonl(converted["dolly"])]
    items = json.loads(converted["alpaca"].read_text(encoding="utf-8"))
    pairs += [(o["instruction"], o["input"]) for o in items]
    assert [infer_category(i, c) for i, c in pairs] == [
        _regex_only_category(i, c) for i, c in pairs
    ]


# Keyword pieces, with the non-ASCII letters re.IGNORECASE equates with i, k and s.
_PIECES = [
    "Summarize",
    "SUMMARY",
    "tl;dr",
    "TLDR",
    "classify",
    "Categorise",
    "which category",
    "label",
    "extract",
    "identify all",
    "list the names",
    "list all the dates",
    "brainstorm",
    "come up with",
    "idea",
    "list 5",
    "list ten",
    "poem",
    "STORY",
    "dialogue",
    "\u0130dea",
    "\u0131dea",
    "\u017fummary",
    "wor\u212aing",
    "\u212aaiku",
    "ha\u0131ku",
    "\u017fong",
    " ",
    "\n",
    "-",
    "x",
    "?",
    "é",
    "ideally",
    "labels",
    "storyline",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), st.sampled_from(["", "c"]))
def test_fast_category_inference_agrees_with_the_rules_on_odd_text(
    instruction: str, context: str
) -> None:
    assert infer_category(instruction, context) == _regex_only_category(instruction, context)
