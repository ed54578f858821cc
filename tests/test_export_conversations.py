"""Conversations in exports: the chat formats (OpenAI chat JSONL, ShareGPT, Parquet's
`messages`) hold every turn; Dolly and Alpaca hold single-turn pairs only, and the manifest,
`dropped.jsonl` and the card say how many conversations they left out. Every file loads with
Hugging Face `datasets`, and TRL's `is_conversational` accepts the conversation files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import DatasetDict, load_dataset
from trl.data_utils import is_conversational, maybe_convert_to_chatml

from bot.cli import main
from exporters.run import plan_export, run_export
from store.enums import ExampleStatus, Origin, TurnRole
from tests.dbs import TestDatabase
from tests.export_clients import alpaca_row_errors, openai_line_errors, sharegpt_row_errors
from tests.export_data import SALT, Item, insert_conversation, insert_items, spec

U, A, S = TurnRole.USER, TurnRole.ASSISTANT, TurnRole.SYSTEM
LAPTOP = [
    (U, "How do I request a new laptop for a new starter?"),
    (A, "Open a ticket in the IT portal under Hardware, with the start date."),
    (U, "And how long does it usually take to arrive?"),
    (A, "Usually three working days; a week for the larger models."),
]
EXPENSES = [
    (S, "You answer questions about the expenses policy."),
    (U, "Can I expense a taxi home after working late?"),
    (A, "Yes, after 9 pm, with the receipt attached to the claim."),
    (U, "Is there a limit on the fare itself?"),
    (A, "Up to 60 euros; above that your manager approves it."),
]
ONE_EXCHANGE = [
    (U, "Which floor is the quiet room on?"),
    (A, "The fourth floor, next to the library corner."),
]
FORMATS = ("dolly", "alpaca", "openai", "sharegpt", "parquet")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _seed(db: TestDatabase) -> dict[str, int]:
    """Three pairs, two multi-turn conversations (one with a system turn) and one single
    exchange stored as a conversation."""
    with db.session() as s:
        pairs = insert_items(s, [Item("open_qa", f"P{k}") for k in range(3)])
        return {
            "pair0": pairs[0],
            "pair1": pairs[1],
            "pair2": pairs[2],
            "laptop": insert_conversation(s, "general_qa", "C1", LAPTOP),
            "expenses": insert_conversation(s, "general_qa", "C2", EXPENSES),
            "one": insert_conversation(s, "open_qa", "C3", ONE_EXCHANGE),
        }


def _by_id(lines: list[dict[str, Any]], ids: list[int]) -> dict[int, dict[str, Any]]:
    return dict(zip(ids, lines, strict=True))


def test_chat_formats_hold_every_turn_and_pair_formats_leave_conversations_out(
    db: TestDatabase, tmp_path: Path
) -> None:
    ids = _seed(db)
    out = tmp_path / "ds"
    result = run_export(db.sessions, out, spec(formats=FORMATS))
    assert result.counts.total == 6

    meta = _jsonl(out / "openai" / "train.meta.jsonl")
    chat = _by_id(_jsonl(out / "openai" / "train.jsonl"), [m["id"] for m in meta])
    assert openai_line_errors(list(chat.values())) == []
    assert chat[ids["laptop"]]["messages"] == [{"role": r.value, "content": t} for r, t in LAPTOP]
    assert chat[ids["expenses"]]["messages"] == [
        {"role": r.value, "content": t} for r, t in EXPENSES
    ]

    share = {r["id"]: r for r in _jsonl(out / "sharegpt" / "train.jsonl")}
    assert sharegpt_row_errors(list(share.values())) == []
    names = {S: "system", U: "human", A: "gpt"}
    assert share[ids["expenses"]]["conversations"] == [
        {"from": names[r], "value": t} for r, t in EXPENSES
    ]

    table = {r["id"]: r for r in pq.read_table(out / "parquet" / "train.parquet").to_pylist()}
    laptop = table[ids["laptop"]]
    assert laptop["kind"] == "conversation"
    assert laptop["messages"] == [{"role": r.value, "content": t} for r, t in LAPTOP]
    assert (laptop["instruction"], laptop["context"], laptop["response"]) == (None, None, None)
    pair = table[ids["pair0"]]
    assert pair["kind"] == "pair" and pair["instruction"] and pair["context"] == ""
    assert pair["messages"] == [
        {"role": "user", "content": pair["instruction"]},
        {"role": "assistant", "content": pair["response"]},
    ]

    # The pair formats: the three pairs and the single exchange, written as a pair.
    dolly = {r["id"]: r for r in _jsonl(out / "dolly" / "train.jsonl")}
    alpaca = json.loads((out / "alpaca" / "train.json").read_text(encoding="utf-8"))
    assert alpaca_row_errors(alpaca) == []
    pair_ids = {ids["pair0"], ids["pair1"], ids["pair2"], ids["one"]}
    assert set(dolly) == pair_ids == {r["id"] for r in alpaca}
    assert (dolly[ids["one"]]["instruction"], dolly[ids["one"]]["response"]) == (
        ONE_EXCHANGE[0][1],
        ONE_EXCHANGE[1][1],
    )

    dropped = _jsonl(out / "dropped.jsonl")
    assert dropped == [
        {
            "id": ids["laptop"],
            "reason": "a conversation of 4 turns: dolly and alpaca hold single-turn pairs only",
            "formats": ["dolly", "alpaca"],
        },
        {
            "id": ids["expenses"],
            "reason": "a conversation of 5 turns with a system turn: dolly and alpaca hold "
            "single-turn pairs only",
            "formats": ["dolly", "alpaca"],
        },
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["kinds"] == {"pair": 3, "conversation": 3}
    assert counts["conversation_turns"] == 4 + 5 + 2
    assert counts["conversations_left_out"] == {"alpaca": 2, "dolly": 2}
    files = manifest["files"]
    assert files["dolly/train.jsonl"]["rows"] == files["alpaca/train.json"]["rows"] == 4
    assert files["openai/train.jsonl"]["rows"] == files["parquet/train.parquet"]["rows"] == 6
    assert files["dropped.jsonl"]["rows"] == 2

    card = (out / "README.md").read_text(encoding="utf-8")
    assert "3 instruction/response pairs and 3 conversations (11 turns)" in card
    assert "`openai/`, `sharegpt/`, `parquet/` hold every turn" in card
    assert "`alpaca/` and `dolly/` hold single-turn pairs only" in card
    assert "leave out 2 conversation(s)" in card


def _load(path: str, cache: Path, name: str | None = None, **kw: Any) -> DatasetDict:
    ds = load_dataset(path, name, cache_dir=str(cache), **kw)
    assert isinstance(ds, DatasetDict)
    return ds


def test_every_file_loads_with_datasets_and_trl_takes_the_conversations(
    db: TestDatabase, tmp_path: Path
) -> None:
    ids = _seed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(formats=FORMATS, system_prompt="Be brief."))
    cache = tmp_path / "cache"
    files = {
        "dolly": "dolly/train.jsonl",
        "alpaca": "alpaca/train.json",
        "openai": "openai/train.jsonl",
        "sharegpt": "sharegpt/train.jsonl",
    }
    loaded = {
        fmt: _load("json", cache, data_files={"train": str(out / f)})["train"]
        for fmt, f in files.items()
    }
    loaded["parquet"] = _load(
        "parquet", cache, data_files={"train": str(out / "parquet" / "train.parquet")}
    )["train"]
    assert [len(loaded[f]) for f in FORMATS] == [4, 4, 6, 6, 6]
    for fmt in JSON_CONFIGS:
        assert len(_load(str(out), cache, fmt)["train"]) == len(loaded[fmt])

    openai_rows = loaded["openai"].to_list()
    parquet_rows = loaded["parquet"].to_list()
    sharegpt_rows = [maybe_convert_to_chatml(r) for r in loaded["sharegpt"].to_list()]
    for rows in (openai_rows, parquet_rows, sharegpt_rows):
        assert all(is_conversational(r) for r in rows)
    # The export's system prompt leads every row but the one with its own system turn.
    by_id = {r["id"]: r for r in parquet_rows}
    assert by_id[ids["expenses"]]["messages"][0] == {
        "role": "system",
        "content": EXPENSES[0][1],
    }
    assert by_id[ids["laptop"]]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["messages"] for m in openai_rows] == [
        by_id[m["id"]]["messages"] for m in _jsonl(out / "openai" / "train.meta.jsonl")
    ]
    # TRL's converter renames ShareGPT's keys (from/value -> role/content) and keeps its role
    # names (human, gpt): otherwise the turns are the Parquet file's, turn for turn.
    chatml = {"system": "system", "human": "user", "gpt": "assistant"}
    converted = {
        r["id"]: [{**m, "role": chatml[m["role"]]} for m in r["messages"]] for r in sharegpt_rows
    }
    assert converted == {i: r["messages"] for i, r in by_id.items()}
    # A pair format's rows are not conversational: TRL reads them as prompt/completion data
    # only after a mapping of one's own, which is why they hold pairs only.
    assert not any(is_conversational(r) for r in loaded["dolly"].to_list())


JSON_CONFIGS = ("dolly", "alpaca", "openai", "sharegpt")


def test_a_split_without_pairs_is_no_config_of_the_pair_formats(
    db: TestDatabase, tmp_path: Path
) -> None:
    with db.session() as s:
        for k in range(6):
            turns = [(r, f"{t} ({k})") for r, t in LAPTOP]
            insert_conversation(s, "general_qa", f"C{k}", turns)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(formats=FORMATS, test_size=0.3))
    front = yaml.safe_load((out / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    # Dolly and Alpaca hold no row (their files are empty), so `datasets` could not load
    # them: the card lists only the chat formats, and each of those loads whole.
    assert [c["config_name"] for c in front["configs"]] == ["openai", "sharegpt"]
    assert (out / "dolly" / "train.jsonl").read_text() == ""
    cache = tmp_path / "cache"
    for fmt in ("openai", "sharegpt"):
        ds = _load(str(out), cache, fmt)
        assert set(ds) == {"train", "test"} and len(ds["train"]) + len(ds["test"]) == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["conversations_left_out"] == {"alpaca": 6, "dolly": 6}
    assert "leave out 6 conversation(s)" in (out / "README.md").read_text(encoding="utf-8")


def test_hygiene_and_pii_rules_see_every_turn(db: TestDatabase, tmp_path: Path) -> None:
    with db.session() as s:
        clean = insert_conversation(s, "general_qa", "C1", LAPTOP)
        late_email = [*LAPTOP[:3], (A, "Write to it-help@example.com and they will chase it.")]
        leaky = insert_conversation(s, "general_qa", "C2", late_email)
        briefed = [(S, "Escalate to it-lead@example.com when stuck."), *LAPTOP]
        system_leak = insert_conversation(s, "general_qa", "C3", briefed)
    masked = tmp_path / "masked"
    run_export(db.sessions, masked, spec(formats=("openai",), scrub_pii=True))
    meta = [m["id"] for m in _jsonl(masked / "openai" / "train.meta.jsonl")]
    chat = _by_id(_jsonl(masked / "openai" / "train.jsonl"), meta)
    last = chat[leaky]["messages"][-1]["content"]
    assert "it-help@example.com" not in last and last.startswith("Write to ")
    assert chat[clean]["messages"][-1]["content"] == LAPTOP[-1][1]
    assert "it-lead@example.com" not in chat[system_leak]["messages"][0]["content"]

    dropped = tmp_path / "dropped"
    run_export(db.sessions, dropped, spec(formats=("sharegpt",), drop_pii=True))
    assert [r["id"] for r in _jsonl(dropped / "sharegpt" / "train.jsonl")] == [clean]
    assert _jsonl(dropped / "dropped.jsonl") == [
        {"id": leaky, "reason": "PII: email"},
        {"id": system_leak, "reason": "PII: email"},
    ]


def test_a_dry_run_counts_the_conversations_the_pair_formats_leave_out(
    db: TestDatabase,
) -> None:
    ids = _seed(db)
    plan = plan_export(db.sessions, spec(formats=("dolly", "openai")))
    assert plan.counts.total == 6 and plan.counts.conversations == 3
    assert plan.dropped == {"conversation": 2}
    assert plan.dropped_examples["conversation"] == [
        (ids["laptop"], "a conversation of 4 turns: dolly holds single-turn pairs only"),
        (
            ids["expenses"],
            "a conversation of 5 turns with a system turn: dolly holds single-turn pairs only",
        ),
    ]
    # Chat formats alone leave nothing out.
    assert plan_export(db.sessions, spec(formats=("openai", "parquet"))).dropped == {}


@pytest.mark.parametrize("fmt", ["dolly", "alpaca"])
def test_an_export_without_conversations_counts_and_calls_them_pairs(
    db: TestDatabase, tmp_path: Path, fmt: str
) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa", "P1"), Item("open_qa", "P2")])
    before = tmp_path / "before"
    run_export(db.sessions, before, spec(formats=(fmt,)))
    manifest = json.loads((before / "manifest.json").read_text())
    assert manifest["counts"]["kinds"] == {"pair": 2, "conversation": 0}
    assert manifest["counts"]["conversations_left_out"] == {}
    card = (before / "README.md").read_text(encoding="utf-8")
    assert "Instruction-tuning pairs collected with crowdtune" in card
    assert "Conversations:" not in card


def test_the_cli_says_how_many_conversations_and_turns_and_what_was_left_out(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _seed(db)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_PSEUDONYM_SALT", SALT)
    argv = ["export", "--format", "dolly,openai", "--test-size", "0"]
    assert main([*argv, "--dry-run", "--out", "ds"]) == 0
    planned = capsys.readouterr().out
    assert "conversations: 3 (11 turns); 2 left out of dolly" in planned
    assert "conversations left out of the pair formats (dolly, alpaca): 2" in planned
    assert main([*argv, "--out", "ds"]) == 0
    assert "conversations: 3 (11 turns); 2 left out of dolly" in capsys.readouterr().out


def test_conversations_awaiting_consent_or_review_are_never_exported(
    db: TestDatabase, tmp_path: Path
) -> None:
    with db.session() as s:
        kept = insert_conversation(s, "general_qa", "C1", LAPTOP)
        for status in (ExampleStatus.AWAITING_CONSENT, ExampleStatus.PENDING):
            turns = [(r, f"{t} ({status.value})") for r, t in EXPENSES]
            insert_conversation(s, "general_qa", "C2", turns, origin=Origin.CAPTURED, status=status)
    out = tmp_path / "ds"
    result = run_export(db.sessions, out, spec(formats=("openai", "sharegpt", "parquet")))
    assert result.counts.total == 1 and result.counts.conversations == 1
    assert [m["id"] for m in _jsonl(out / "openai" / "train.meta.jsonl")] == [kept]
    assert [r["id"] for r in _jsonl(out / "sharegpt" / "train.jsonl")] == [kept]
    assert pq.read_table(out / "parquet" / "train.parquet").column("id").to_pylist() == [kept]
    # Not approved: not eligible at all, so not even a line in dropped.jsonl.
    assert (out / "dropped.jsonl").read_text() == ""
