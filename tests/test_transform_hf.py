"""Transforms read files the way Hugging Face exports them (nested columns by path), with the
README's one-line command for SQuAD, CNN/DailyMail and WMT; every phrasing rewords the task."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from bot.cli import main
from generators.transforms import PHRASINGS, render_pair, resolve, transform_file
from store.importing import ImportFailed
from store.models import Example
from tests.dbs import TestDatabase

README = Path(__file__).resolve().parent.parent / "README.md"

# The README's commands, run as written (file names included).
SQUAD = "crowdtune transform squad-train.jsonl --task qa --source squad --licence cc-by-sa-4.0"
CNN = (
    "crowdtune transform cnn_dailymail-train.jsonl --task summarization "
    "--source cnn_dailymail --licence apache-2.0"
)
WMT = (
    "crowdtune transform wmt16-de-en-train.jsonl --task translation "
    "--column source=translation.de --column target=translation.en "
    "--source-lang German --target-lang English --source wmt16"
)

SITES = [
    f"The plant in {city} opened in {year} and makes {what} for the company's scooters."
    for city, year, what in [
        ("Lyon", 1998, "frames"),
        ("Turin", 2004, "wheels"),
        ("Porto", 2011, "brakes"),
    ]
]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _squad_rows() -> list[dict[str, Any]]:
    # As `load_dataset("squad")["train"].to_json(...)` writes them.
    rows = [
        {
            "id": f"q{i}",
            "title": "Plants",
            "context": text,
            "question": f"When did the plant in {text.split()[3]} open?",
            "answers": {"text": [text.split()[6]], "answer_start": [text.index(" in ") + 4]},
        }
        for i, text in enumerate(SITES)
    ]
    # SQuAD v2's unanswerable questions have empty answer lists: not a pair, not an error.
    rows.append({**rows[0], "id": "q9", "answers": {"text": [], "answer_start": []}})
    return rows


def _stored(db: TestDatabase) -> list[Example]:
    with db.session() as s:
        rows = list(s.scalars(select(Example).order_by(Example.id)))
        s.expunge_all()
    return rows


def _run_readme_command(command: str) -> int:
    assert command in README.read_text(encoding="utf-8"), "the README shows this command"
    return main(shlex.split(command)[1:])


@pytest.fixture
def env(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    return tmp_path


def test_squad_as_hf_exports_it(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_jsonl(env / "squad-train.jsonl", _squad_rows())
    assert _run_readme_command(SQUAD) == 0
    assert "1 without a value (skipped)" in capsys.readouterr().out
    rows = _stored(db)
    assert [r.response for r in rows] == ["1998", "2004", "2011"]
    assert [r.context for r in rows] == SITES
    assert all(r.source_name == "squad" and r.licence == "cc-by-sa-4.0" for r in rows)
    assert all("plant in" in r.instruction for r in rows)


def test_cnn_dailymail_as_hf_exports_it(db: TestDatabase, env: Path) -> None:
    article = " ".join(SITES) + " Together they employ nine hundred people across Europe."
    rows = [
        {"article": article, "highlights": "Three plants opened from 1998 to 2011.", "id": "a1"},
        {"article": SITES[2] * 2, "highlights": "The Porto plant makes brakes.", "id": "a2"},
    ]
    _write_jsonl(env / "cnn_dailymail-train.jsonl", rows)
    assert _run_readme_command(CNN) == 0
    stored = _stored(db)
    assert [r.context for r in stored] == [rows[0]["article"], rows[1]["article"]]
    assert stored[0].response == "Three plants opened from 1998 to 2011."
    assert all(r.instruction in PHRASINGS["summarization"] for r in stored)
    assert {r.category.slug for r in stored} == {"summarization"}


def test_wmt_translation_pairs_as_hf_exports_them(db: TestDatabase, env: Path) -> None:
    rows = [
        {
            "translation": {
                "de": "Die Katze schläft auf dem Sofa.",
                "en": "The cat sleeps on the sofa.",
            }
        },
        {
            "translation": {
                "de": "Es regnet seit heute Morgen.",
                "en": "It has rained since morning.",
            }
        },
    ]
    _write_jsonl(env / "wmt16-de-en-train.jsonl", rows)
    assert _run_readme_command(WMT) == 0
    stored = _stored(db)
    assert [r.context for r in stored] == [r["translation"]["de"] for r in rows]
    assert [r.response for r in stored] == [r["translation"]["en"] for r in rows]
    assert all("English" in r.instruction for r in stored)


def test_parquet_with_nested_columns(db: TestDatabase, tmp_path: Path) -> None:
    rows = _squad_rows()
    path = tmp_path / "squad-train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)  # as `Dataset.to_parquet` writes it
    with db.session() as s:
        report = transform_file(s, path, task="qa", columns={"answer": "answers.text[0]"})
    assert (report.format, report.added, report.no_value) == ("parquet", 3, 1)
    assert [r.source_ref for r in _stored(db)] == ["row 1", "row 2", "row 3"]


def test_paths_and_their_mistakes(db: TestDatabase, tmp_path: Path) -> None:
    row = {"answers": {"text": ["a", "b"]}, "translation.de": "flat", "n": {"x": 3}}
    assert resolve(row, "answers.text[1]") == "b"
    assert resolve(row, "translation.de") == "flat"  # a column named with a dot wins
    with pytest.raises(KeyError):
        resolve(row, "answers.texts[0]")
    path = tmp_path / "qa.jsonl"
    _write_jsonl(path, [{**r, "answers": {"text": r["answers"]["text"]}} for r in _squad_rows()])
    with db.session() as s, pytest.raises(ImportFailed) as info:
        transform_file(s, path, task="qa", columns={"answer": "answers.text"})
    assert "must be text, got list; pick one item, e.g. [0]" in info.value.message


@pytest.mark.parametrize("task", sorted(PHRASINGS))
def test_every_phrasing_changes_the_wording(task: str) -> None:
    values = {
        "question": "When did the Lyon plant open?",
        "context": SITES[0],
        "answer": "1998",
        "document": SITES[0],
        "summary": "It opened in 1998.",
        "source": "Die Katze schläft.",
        "target": "The cat sleeps.",
    }
    for choice in range(len(PHRASINGS[task])):
        instruction, _, _ = render_pair(
            task, values, choice, source_lang="German", target_lang="English"
        )
        assert instruction.strip() not in (values["question"], values["source"], "")
        if task == "qa":
            assert "did the Lyon plant open" in instruction  # the question is still asked
