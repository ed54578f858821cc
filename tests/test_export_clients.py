"""Every written file loads in the tools people train with: Hugging Face `datasets` (json and
parquet builders, and the folder through the card's `configs`), OpenAI's per-line chat
schema, and the ShareGPT and Alpaca layouts that LLaMA-Factory and axolotl read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from datasets import DatasetDict, Features, Value, load_dataset

from exporters.run import run_export
from store.enums import Origin
from tests.dbs import TestDatabase
from tests.export_clients import alpaca_row_errors, openai_line_errors, sharegpt_row_errors
from tests.export_data import Item, insert_items, spec

FORMATS = ("dolly", "alpaca", "openai", "sharegpt", "parquet")
JSON_FORMATS = FORMATS[:-1]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def front_matter(out: Path) -> dict[str, Any]:
    """The card's YAML, parsed by PyYAML."""
    text = (out / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    loaded = yaml.safe_load(text.split("---\n")[1])
    assert isinstance(loaded, dict)
    return loaded


def _load(path: str, cache: Path, name: str | None = None, **kw: Any) -> DatasetDict:
    ds = load_dataset(path, name, cache_dir=str(cache), **kw)
    assert isinstance(ds, DatasetDict)
    return ds


# Parquet's columns that Dolly has too (Parquet adds `kind` and `messages`).
FLAT = ("id", "instruction", "context", "response", "category", "origin", "contributor")


def _flat(features: Features) -> dict[str, Any]:
    assert set(features) == {*FLAT, "kind", "messages"}
    return {k: features[k] for k in FLAT}


def _mixed(db: TestDatabase) -> None:
    with db.session() as s:
        insert_items(
            s,
            [Item("open_qa", f"U{k % 5}") for k in range(20)]
            + [Item("closed_qa", None, Origin.IMPORTED, context=f"Text {k}.") for k in range(6)]
            + [Item("brainstorming", None, Origin.TRANSFORMED) for _ in range(4)],
        )


def test_every_file_loads_with_datasets_and_the_folder_through_its_configs(
    db: TestDatabase, tmp_path: Path
) -> None:
    _mixed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(test_size=0.2, system_prompt="You are helpful."))
    cache = tmp_path / "cache"
    for split in ("train", "test"):
        for fmt, ext in (("dolly", "jsonl"), ("alpaca", "json"), ("sharegpt", "jsonl")):
            rows = _load("json", cache, data_files={split: str(out / fmt / f"{split}.{ext}")})
            assert len(rows[split]) > 0
        chat = _load("json", cache, data_files={split: str(out / "openai" / f"{split}.jsonl")})
        assert chat[split].column_names == ["messages"]
        pq = _load("parquet", cache, data_files={split: str(out / "parquet" / f"{split}.parquet")})
        assert pq[split].features["contributor"] == Value("string")

    meta = front_matter(out)
    # One builder reads a whole folder, so Parquet (read by its own builder above, as the
    # card says) is no config beside the JSON formats.
    assert [c["config_name"] for c in meta["configs"]] == list(JSON_FORMATS)
    assert meta["configs"][0]["default"] is True
    assert 'load_dataset("parquet", data_files=' in (out / "README.md").read_text()
    by_config = {fmt: _load(str(out), cache, fmt) for fmt in JSON_FORMATS}
    default = _load(str(out), cache)
    assert default["train"].to_list() == by_config["dolly"]["train"].to_list()
    manifest = json.loads((out / "manifest.json").read_text())
    for ds in by_config.values():
        assert set(ds) == {"train", "test"}
        for split, part in ds.items():
            assert len(part) == sum(manifest["counts"][split].values())
    # The sidecar is no config of its own and not mixed into the openai rows.
    assert by_config["openai"]["train"].column_names == ["messages"]
    parquet = _load("parquet", cache, data_files={"train": str(out / "parquet" / "train.parquet")})
    dolly = by_config["dolly"]["train"]
    assert _flat(parquet["train"].features) == {k: dolly.features[k] for k in FLAT}


def test_json_and_parquet_give_the_same_types_when_no_row_has_an_author(
    db: TestDatabase, tmp_path: Path
) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa", None, Origin.IMPORTED) for _ in range(4)])
    out, alone = tmp_path / "ds", tmp_path / "parquet-only"
    run_export(db.sessions, out, spec(formats=("dolly", "parquet", "sharegpt", "alpaca")))
    run_export(db.sessions, alone, spec(formats=("parquet",)))
    cache = tmp_path / "cache"
    dolly = _load(str(out), cache, "dolly")["train"]
    parquet = _load(str(alone), cache)["train"]  # a folder of Parquet alone has it as config
    assert [c["config_name"] for c in front_matter(alone)["configs"]] == ["parquet"]
    # Without the card's features the JSON column of nulls would be Value('null').
    assert dolly.features["contributor"] == Value("string")
    assert _flat(parquet.features) == {k: dolly.features[k] for k in FLAT}
    assert dolly["contributor"] == [None] * 4
    for fmt in ("sharegpt", "alpaca"):
        assert _load(str(out), cache, fmt)["train"].features["contributor"] == Value("string")
    declared = {c["config_name"]: c["features"] for c in front_matter(out)["dataset_info"]}
    assert Features.from_dict(
        {f["name"]: {"dtype": f["dtype"], "_type": "Value"} for f in declared["dolly"]}
    ) == Features({k: dolly.features[k] for k in [f["name"] for f in declared["dolly"]]})


def test_openai_lines_hold_only_messages_and_the_metadata_is_a_sidecar(
    db: TestDatabase, tmp_path: Path
) -> None:
    _mixed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(formats=("openai", "dolly"), system_prompt="Be brief."))
    chat = _jsonl(out / "openai" / "train.jsonl")
    meta = _jsonl(out / "openai" / "train.meta.jsonl")
    dolly = _jsonl(out / "dolly" / "train.jsonl")
    assert openai_line_errors(chat) == []
    assert all(list(line) == ["messages"] for line in chat)
    assert all(line["messages"][0] == {"role": "system", "content": "Be brief."} for line in chat)
    assert [m["id"] for m in meta] == [d["id"] for d in dolly]
    for line, row in zip(chat, dolly, strict=True):
        user = row["instruction"] + (f"\n\n{row['context']}" if row["context"] else "")
        assert line["messages"][1:] == [
            {"role": "user", "content": user},
            {"role": "assistant", "content": row["response"]},
        ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["openai/train.meta.jsonl"]["rows"] == len(chat)
    # The checker itself refuses what the old layout wrote.
    old = [{**chat[0], "metadata": {"id": 1}}]
    assert openai_line_errors(old) == ["0: keys other than messages at the top level: ['metadata']"]


def test_sharegpt_and_alpaca_follow_the_layouts_llama_factory_and_axolotl_read(
    db: TestDatabase, tmp_path: Path
) -> None:
    _mixed(db)
    plain, system = tmp_path / "plain", tmp_path / "system"
    run_export(db.sessions, plain, spec(formats=("sharegpt", "alpaca")))
    run_export(db.sessions, system, spec(formats=("sharegpt",), system_prompt="Be kind."))
    rows = _jsonl(plain / "sharegpt" / "train.jsonl")
    assert sharegpt_row_errors(rows) == []
    assert [t["from"] for t in rows[0]["conversations"]] == ["human", "gpt"]
    with_system = _jsonl(system / "sharegpt" / "train.jsonl")
    assert sharegpt_row_errors(with_system) == []
    assert with_system[0]["conversations"][0] == {"from": "system", "value": "Be kind."}
    items = json.loads((plain / "alpaca" / "train.json").read_text(encoding="utf-8"))
    assert alpaca_row_errors(items) == []
    assert any(i["input"] for i in items) and any(not i["input"] for i in items)


def test_test_size_zero_writes_no_test_split(db: TestDatabase, tmp_path: Path) -> None:
    _mixed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(test_size=0.0))
    assert sorted(p.name for p in (out / "dolly").iterdir()) == ["train.jsonl"]
    assert not list(out.rglob("test*"))
    for config in front_matter(out)["configs"]:
        assert [f["split"] for f in config["data_files"]] == ["train"]
    card = (out / "README.md").read_text()
    assert "| category | train | total |" in card and "no test split" in card
    for fmt in JSON_FORMATS:
        ds = _load(str(out), tmp_path / "cache", fmt)
        assert list(ds) == ["train"] and len(ds["train"]) == 30


def test_an_allowed_empty_export_writes_valid_empty_files(db: TestDatabase, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = run_export(db.sessions, out, spec(allow_empty=True))
    assert result.counts.total == 0
    meta = front_matter(out)
    assert meta["size_categories"] == ["n<1K"] and "test" not in json.dumps(meta["configs"])
    assert "This export holds no examples." in (out / "README.md").read_text()
    assert (out / "dolly" / "train.jsonl").read_text() == ""
    assert json.loads((out / "alpaca" / "train.json").read_text()) == []
    assert pq.read_table(out / "parquet" / "train.parquet").num_rows == 0
    # (`datasets` refuses zero-row files: "Instruction 'train' corresponds to no data".)
