"""Every format parses back with the rows, provenance and pseudonyms the spec promises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from exporters.card import sha256_file
from exporters.pseudonym import pseudonym
from exporters.run import run_export
from store.enums import ExampleStatus, Origin, Verdict
from store.models import Export
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.export_data import SALT, Item, insert_items, spec
from tests.factories import TEAM, example, person


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _seed(db: TestDatabase) -> dict[str, int]:
    with db.session() as s:
        ids = insert_items(
            s,
            [
                Item(
                    "open_qa", "U1", instruction="Why is the sky blue? Ünïcødé ✓", response="Air."
                ),
                Item(
                    "closed_qa",
                    "U2",
                    context="Paris is the capital of France.",
                    instruction="What is the capital of France?",
                    response="Paris.",
                ),
                Item("brainstorming", None, Origin.IMPORTED),
                Item("open_qa", "U1", Origin.LLM),
                Item("open_qa", "U3", status=ExampleStatus.PENDING),
                Item("open_qa", "U3", status=ExampleStatus.REJECTED),
                Item("open_qa", "U3", status=ExampleStatus.DRAFT),
            ],
        )
    return {"sky": ids[0], "paris": ids[1], "imported": ids[2], "llm": ids[3]}


def openai_format_errors(lines: list[dict[str, Any]]) -> list[str]:
    """The checks OpenAI's fine-tuning data-preparation guide runs on a chat JSONL file."""
    errors: list[str] = []
    for n, ex in enumerate(lines):
        if not isinstance(ex, dict):
            errors.append(f"{n}: data_type")
            continue
        messages = ex.get("messages")
        if not messages:
            errors.append(f"{n}: missing_messages_list")
            continue
        for m in messages:
            if "role" not in m or "content" not in m:
                errors.append(f"{n}: message_missing_key")
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in m):
                errors.append(f"{n}: message_unrecognized_key")
            if m.get("role") not in ("system", "user", "assistant", "function"):
                errors.append(f"{n}: unrecognized_role")
            content = m.get("content")
            if not content or not isinstance(content, str):
                errors.append(f"{n}: missing_content")
        if not any(m.get("role") == "assistant" for m in messages):
            errors.append(f"{n}: example_missing_assistant_message")
    return errors


def test_every_format_parses_back(db: TestDatabase, tmp_path: Path) -> None:
    ids = _seed(db)
    out = tmp_path / "ds"
    result = run_export(db.sessions, out, spec())
    assert result.counts.total == 4  # approved only: pending, rejected and drafts stay out
    dolly = _jsonl(out / "dolly" / "train.jsonl")
    by_id = {r["id"]: r for r in dolly}
    assert set(by_id) == set(ids.values())
    sky = by_id[ids["sky"]]
    assert sky["instruction"] == "Why is the sky blue? Ünïcødé ✓"
    assert (sky["category"], sky["origin"], sky["context"]) == ("open_qa", "human", "")
    assert by_id[ids["imported"]]["contributor"] is None
    assert by_id[ids["llm"]]["origin"] == "llm"

    alpaca = json.loads((out / "alpaca" / "train.json").read_text(encoding="utf-8"))
    assert [a["id"] for a in alpaca] == [r["id"] for r in dolly]
    paris = next(a for a in alpaca if a["id"] == ids["paris"])
    assert paris["input"] == "Paris is the capital of France." and paris["output"] == "Paris."
    assert not (out / "alpaca" / "test.json").exists()  # --test-size 0: no test files

    chat = _jsonl(out / "openai" / "train.jsonl")
    assert openai_format_errors(chat) == []
    meta = _jsonl(out / "openai" / "train.meta.jsonl")
    assert [m["id"] for m in meta] == [r["id"] for r in dolly]  # line for line
    assert meta[0] == {k: dolly[0][k] for k in ("id", "category", "origin", "contributor")}
    turn = chat[[m["id"] for m in meta].index(ids["paris"])]["messages"]
    assert turn[0] == {
        "role": "user",
        "content": "What is the capital of France?\n\nParis is the capital of France.",
    }
    assert turn[1] == {"role": "assistant", "content": "Paris."}

    share = _jsonl(out / "sharegpt" / "train.jsonl")
    conv = next(c for c in share if c["id"] == ids["paris"])["conversations"]
    assert [t["from"] for t in conv] == ["human", "gpt"]
    assert conv[0]["value"].endswith("Paris is the capital of France.")

    table = pq.read_table(out / "parquet" / "train.parquet")
    assert table.num_rows == 4
    assert table.column("id").to_pylist() == [r["id"] for r in dolly]
    assert table.column("category").to_pylist() == [r["category"] for r in dolly]
    assert not (out / "parquet" / "test.parquet").exists()

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train"] == {"brainstorming": 1, "closed_qa": 1, "open_qa": 2}
    assert manifest["counts"]["origins"] == {"human": 2, "imported": 1, "llm": 1}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"manifest.json"}
    for name, info in manifest["files"].items():
        assert info["sha256"] == sha256_file(out / name)
    assert manifest["files"]["dolly/train.jsonl"]["rows"] == 4
    assert "salt" not in json.dumps(manifest) and SALT not in json.dumps(manifest)
    card = (out / "README.md").read_text()
    assert "| open_qa | 2 | 2 |" in card and "Licence of this export: proprietary" in card

    with db.session() as s:
        row = s.get(Export, result.export_id)
        assert row is not None and row.status == "succeeded" and row.finished_at is not None
        assert row.counts["total"] == 4 and row.files == manifest["files"]
        assert row.spec["formats"] == ["dolly", "alpaca", "openai", "sharegpt", "parquet"]


def test_contributors_are_pseudonymous_and_stable(db: TestDatabase, tmp_path: Path) -> None:
    ids = _seed(db)
    run_export(db.sessions, tmp_path / "a", spec(formats=("dolly",)))
    run_export(db.sessions, tmp_path / "b", spec(formats=("dolly", "parquet")))
    a = {r["id"]: r["contributor"] for r in _jsonl(tmp_path / "a" / "dolly" / "train.jsonl")}
    b = {r["id"]: r["contributor"] for r in _jsonl(tmp_path / "b" / "dolly" / "train.jsonl")}
    assert a == b
    assert a[ids["sky"]] == a[ids["llm"]] == pseudonym(SALT, TEAM, "U1")
    assert a[ids["sky"]] != a[ids["paris"]]
    text = "".join(p.read_text(errors="replace") for p in (tmp_path / "b").rglob("*.*"))
    for raw in ("U1", "U2", TEAM):
        assert f'"{raw}"' not in text and raw not in a.values()
    other = run_export(db.sessions, tmp_path / "c", spec(formats=("dolly",), salt="another"))
    assert other.counts.total == 4
    c = {r["id"]: r["contributor"] for r in _jsonl(tmp_path / "c" / "dolly" / "train.jsonl")}
    assert c[ids["sky"]] != a[ids["sky"]]


def test_filters_origin_min_reviews_and_exact_duplicates(db: TestDatabase, tmp_path: Path) -> None:
    same = {"instruction": "Name three primary colours.", "response": "Red, yellow, blue."}
    with db.session() as s:
        ids = insert_items(
            s,
            [
                Item("open_qa", None, Origin.IMPORTED, **same),  # type: ignore[arg-type]
                Item("brainstorming", "U2", **same),  # type: ignore[arg-type]
                Item("open_qa", None, Origin.IMPORTED),
                Item("open_qa", None, Origin.TRANSFORMED),
            ],
        )
        writer, r1, r2 = person(s, "W"), person(s, "R1"), person(s, "R2")
        reviewed = example(s, writer)
        for r in (r1, r2):
            record_review(
                s,
                example_id=reviewed.id,
                reviewer=r,
                verdict=Verdict.APPROVE,
                quorum=Quorum(2, 2),
            )
        assert reviewed.status == ExampleStatus.APPROVED
    all_ = run_export(db.sessions, tmp_path / "all", spec(formats=("dolly",)))
    got = [r["id"] for r in _jsonl(tmp_path / "all" / "dolly" / "train.jsonl")]
    assert got == [ids[0], ids[2], ids[3], reviewed.id]  # the later exact copy is dropped
    assert all_.counts.exact_duplicates == 1

    run_export(db.sessions, tmp_path / "o", spec(formats=("dolly",), origins=("transformed",)))
    assert [r["id"] for r in _jsonl(tmp_path / "o" / "dolly" / "train.jsonl")] == [ids[3]]

    run_export(db.sessions, tmp_path / "m", spec(formats=("dolly",), min_reviews=2))
    assert [r["id"] for r in _jsonl(tmp_path / "m" / "dolly" / "train.jsonl")] == [reviewed.id]

    # When the first copy's origin is left out, its human duplicate is the one exported.
    run_export(db.sessions, tmp_path / "h", spec(formats=("dolly",), origins=("human",)))
    got = [r["id"] for r in _jsonl(tmp_path / "h" / "dolly" / "train.jsonl")]
    assert got == [ids[1], reviewed.id]
