"""Real dialogue through the real `crowdtune` entrypoint, on SQLite and PostgreSQL.

../shared/datasets holds no dataset of user/assistant dialogues; the nearest real dialogue is
SAMSum's chat transcripts inside T0's `samsum_Summarize_` prompts. `bench.datasets` turns the
two-person ones into conversations (its docstring gives the rule) written as ShareGPT and
as OpenAI chat JSONL; both import as the same conversations, once, and export back intact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from trl.data_utils import is_conversational

from bench import datasets as ds
from bot.cli import main
from store.enums import ExampleKind
from store.export_queries import turns_by_example
from store.models import Example, ExampleTurn
from tests.conftest import SHARED
from tests.dbs import TestDatabase
from tests.export_data import SALT

DATASETS = SHARED / "datasets"
T0_SHA256 = "e0a7cb92a20dbbdb00a7227af03658a06a7c12afafa103f88cccb0eecdb56617"


@pytest.fixture(scope="module")
def dialogue() -> list[list[tuple[str, str]]]:
    """The SAMSum conversations, read once per module from the pinned T0 file."""
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS} (they sit beside the checkout)")
    digest = hashlib.sha256((DATASETS / ds.T0).read_bytes()).hexdigest()
    assert digest == T0_SHA256, f"{ds.T0} changed (sha256 {digest})"
    return ds.samsum_conversations(DATASETS)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_samsum_dialogue_imports_as_the_same_conversations_from_both_layouts(
    db: TestDatabase,
    dialogue: list[list[tuple[str, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_PSEUDONYM_SALT", SALT)
    n, turns = len(dialogue), sum(len(c) for c in dialogue)
    assert n > 100 and turns > 4 * n  # many real multi-turn dialogues, not a handful
    share = ds.write_jsonl(ds.sharegpt_records(dialogue), tmp_path / "samsum.sharegpt.jsonl")
    chat = ds.write_jsonl(ds.openai_records(dialogue), tmp_path / "samsum.openai.jsonl")
    provenance = ["--source", "samsum", "--licence", "cc-by-nc-nd-4.0", "--category", "general_qa"]
    for path, fmt in ((share, "sharegpt"), (chat, "openai")):
        out = _cli(capsys, "import", str(path), *provenance, "--near-duplicates", "off")
        assert f"{fmt} format, {n:,} records read, {n:,} added" in out
        assert f"{n:,} conversations ({turns:,} turns)" in out
        again = _cli(capsys, "import", str(path), *provenance, "--near-duplicates", "off")
        assert f"0 added, {n:,} already present" in again

    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ExampleTurn)) == 2 * turns
        rows = s.execute(
            select(Example.id, Example.source, Example.content_hash, Example.licence)
            .where(Example.kind == ExampleKind.CONVERSATION)
            .order_by(Example.id)
        ).all()
        stored = turns_by_example(s, [r.id for r in rows])
    by_source: dict[str, list[list[tuple[str, str]]]] = {share.name: [], chat.name: []}
    hashes: dict[str, list[str]] = {share.name: [], chat.name: []}
    for r in rows:
        assert r.licence == "cc-by-nc-nd-4.0"
        by_source[r.source].append(stored[r.id])
        hashes[r.source].append(r.content_hash)
    # Every turn, in order, from either layout; the two readers store the same conversation.
    assert by_source[share.name] == by_source[chat.name] == dialogue
    assert hashes[share.name] == hashes[chat.name]

    _cli(capsys, "export", "--out", "ds", "--format", "openai,dolly", "--test-size", "0")
    lines = (tmp_path / "ds" / "openai" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    exported = [json.loads(line) for line in lines]
    assert len(exported) == n  # the second copy of each is an exact duplicate, left out
    assert all(is_conversational(line) for line in exported)
    assert [[(m["role"], m["content"]) for m in line["messages"]] for line in exported] == dialogue
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    single = sum(1 for c in dialogue if len(c) == 2)
    assert manifest["counts"]["conversations_left_out"] == {"dolly": n - single}
    assert manifest["files"]["dolly/train.jsonl"]["rows"] == single
