"""Why a row is not in the export (dropped.jsonl), the manifest's version and database marker,
`--dry-run`, exports that select nothing, and licence warnings and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.commands.export import slack_exporter
from bot.config import load_settings
from bot.runtime import Runtime
from exporters.run import run_export
from store.enums import Origin
from tests.dbs import TestDatabase
from tests.export_data import SALT, Item, insert_items, spec

SAME = {"instruction": "Name three primary colours.", "response": "Red, yellow, blue."}
EMAIL = "jane.doe@example.com"
TOPICS = [
    "Is a tomato a fruit or a vegetable?",
    "Classify these animals as mammals or birds: bat, owl, whale.",
    "Which of these cities are capitals: Paris, Lyon, Rome?",
    "Sort the planets into rocky and gas giants.",
]


def _seed(db: TestDatabase) -> list[int]:
    with db.session() as s:
        return insert_items(
            s,
            [
                Item("open_qa", "U1", **SAME),  # type: ignore[arg-type]
                Item("open_qa", "U2", **SAME),  # type: ignore[arg-type]  exact duplicate of 0
                Item(
                    "open_qa",
                    "U3",
                    instruction="What are the three primary colours used in painting?",
                    response="Red, yellow and blue.",
                ),
                Item(
                    "open_qa",
                    "U4",
                    instruction="What are the three primary colours used in painting today?",
                    response="Red, yellow and blue are the traditional ones.",
                ),
                Item(
                    "brainstorming",
                    "U5",
                    instruction="Give me ideas for a team offsite next spring.",
                    response=f"A hike, or write to {EMAIL} for a boat trip.",
                ),
                *[
                    Item("classification", f"C{k}", reviews=1, instruction=text)
                    for k, text in enumerate(TOPICS)
                ],
                Item("general_qa", None, Origin.IMPORTED),
            ],
        )


def _dropped(out: Path) -> dict[int, str]:
    lines = (out / "dropped.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(set(r) == {"id", "reason"} for r in rows)
    return {r["id"]: r["reason"] for r in rows}


def test_dropped_jsonl_says_why_each_row_is_left_out(db: TestDatabase, tmp_path: Path) -> None:
    ids = _seed(db)
    out = tmp_path / "ds"
    result = run_export(
        db.sessions,
        out,
        spec(
            formats=("dolly",),
            origins=("human",),
            balance="cap",
            cap=3,
            near_dup_threshold=0.8,
            drop_pii=True,
        ),
    )
    dropped = _dropped(out)
    assert dropped[ids[1]] == f"exact duplicate of id {ids[0]}"
    assert dropped[ids[3]].startswith(f"near-duplicate of id {ids[2]} at score 0.")
    assert dropped[ids[4]] == "PII: email"
    assert dropped[ids[9]] == "origin imported not selected (--origins human)"
    capped = [i for i in ids[5:9] if i in dropped]
    assert (
        len(capped) == 1
        and dropped[capped[0]] == "over the category cap (3 kept for classification)"
    )
    kept = {json.loads(x)["id"] for x in (out / "dolly" / "train.jsonl").read_text().splitlines()}
    assert kept.isdisjoint(dropped) and len(kept) + len(dropped) == len(ids)
    assert result.counts.pii == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["dropped.jsonl"]["rows"] == 5

    run_export(db.sessions, tmp_path / "m", spec(formats=("dolly",), min_reviews=1))
    below = _dropped(tmp_path / "m")
    assert below[ids[0]] == "below min reviews (0 of 1)" and ids[5] not in below


def test_manifest_names_the_crowdtune_version_and_the_database(
    db: TestDatabase, tmp_path: Path
) -> None:
    ids = _seed(db)
    run_export(db.sessions, tmp_path / "ds", spec(formats=("dolly",)))
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["crowdtune_version"] == "0.1.0"
    marker = manifest["database"]
    assert marker["dialect"] == db.kind and marker["max_example_id"] == ids[-1]
    assert marker["revision"] and len(marker["fingerprint"]) == 16
    assert "@" not in json.dumps(marker) and "sqlite:" not in json.dumps(marker)


@pytest.fixture
def env(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_PSEUDONYM_SALT", SALT)
    return tmp_path


def _export_rows(db: TestDatabase) -> int:
    with db.engine.connect() as c:
        return len(c.exec_driver_sql("SELECT id FROM exports").all())


def test_dry_run_prints_counts_and_drops_and_writes_nothing(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _seed(db)
    argv = ["export", "--dry-run", "--balance", "cap", "--cap", "3", "--test-size", "0.5"]
    assert main([*argv, "--near-dup", "0.8", "--out", "ds"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 7 examples would be exported (nothing written)" in out
    assert "classification" in out and "train" in out and "test" in out
    assert "exact duplicates: 1" in out and f"id {ids[1]}: exact duplicate of id {ids[0]}" in out
    assert "left out by balancing: 1" in out and "near-duplicates: 1" in out
    assert list(env.iterdir()) == [] and _export_rows(db) == 0
    rt = Runtime(load_settings())
    try:
        reply = slack_exporter(rt)("--dry-run --balance cap --cap 3 --near-dup 0.8")
    finally:
        rt.close()
    assert reply.startswith("dry run: 7 examples would be exported")
    assert list(env.iterdir()) == [] and _export_rows(db) == 0


def _expect_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_an_export_that_selects_nothing_names_the_filter(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _expect_error(["export", "--out", "ds"], capsys)
    assert "no approved examples yet" in err and "--allow-empty" in err
    with db.session() as s:
        insert_items(s, [Item("open_qa", "U1"), Item("closed_qa", None, Origin.IMPORTED)])
    err = _expect_error(["export", "--out", "ds", "--origins", "llm"], capsys)
    assert "--origins llm removed all 2 approved examples" in err
    err = _expect_error(["export", "--out", "ds", "--min-reviews", "2"], capsys)
    assert "--min-reviews 2 removed all 2 approved examples" in err
    assert main(["categories", "set-target", "open_qa", "0"]) == 0
    assert main(["categories", "set-target", "closed_qa", "0"]) == 0
    capsys.readouterr()
    err = _expect_error(["export", "--out", "ds", "--balance", "quota"], capsys)
    assert "--balance quota removed all 2 eligible examples" in err and "target is 0" in err
    assert not (env / "ds").exists()
    assert main(["export", "--out", "ds", "--origins", "llm", "--allow-empty"]) == 0
    assert (env / "ds" / "dolly" / "train.jsonl").read_text() == ""


def _licensed(db: TestDatabase) -> None:
    with db.session() as s:
        insert_items(
            s,
            [Item("open_qa", "U1")]
            + [
                Item(
                    "general_qa",
                    None,
                    Origin.IMPORTED,
                    source_name="alpaca",
                    licence="CC BY-NC 4.0",
                )
                for _ in range(2)
            ],
        )


def test_non_commercial_rows_warn_and_a_commercial_licence_refuses_unless_forced(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _licensed(db)
    assert main(["export", "--out", "internal", "--format", "dolly"]) == 0
    out = capsys.readouterr().out
    assert "warning: 2 selected row(s) are under CC BY-NC 4.0 (non-commercial)" in out
    err = _expect_error(["export", "--out", "open", "--licence", "apache-2.0"], capsys)
    assert "does not allow release under apache-2.0" in err
    assert "2 under CC BY-NC 4.0" in err and "--force" in err and "--origins" in err
    assert not (env / "open").exists()
    assert main(["export", "--out", "open", "--licence", "apache-2.0", "--force"]) == 0
    card = (env / "open" / "README.md").read_text()
    assert "| alpaca | imported | CC BY-NC 4.0 (non-commercial) | 2 |" in card
    assert main(["export", "--out", "human", "--licence", "mit", "--origins", "human"]) == 0


def _stored(db: TestDatabase) -> list[tuple[Any, ...]]:
    with db.engine.connect() as c:
        return [
            tuple(r)
            for r in c.exec_driver_sql("SELECT source_name, licence FROM examples ORDER BY id")
        ]


def test_import_and_transform_store_source_and_licence(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dolly = env / "dolly.jsonl"
    dolly.write_text(
        json.dumps(
            {
                "instruction": "Why is the sky blue?",
                "context": "",
                "response": "Rayleigh scattering of sunlight.",
                "category": "open_qa",
            }
        )
        + "\n"
    )
    argv = ["import", str(dolly), "--source", "databricks-dolly-15k", "--licence", "cc-by-sa-3.0"]
    assert main(argv) == 0
    qa = env / "qa.jsonl"
    qa.write_text(
        json.dumps(
            {
                "context": "The plant in Lyon opened in 1998 and makes bicycle frames.",
                "question": "When did the Lyon plant open?",
                "answers": {"text": ["1998"], "answer_start": [26]},
            }
        )
        + "\n"
    )
    argv = ["transform", str(qa), "--task", "qa", "--source", "squad", "--licence", "cc-by-sa-4.0"]
    assert main([*argv, "--status", "approved"]) == 0
    assert _stored(db) == [("databricks-dolly-15k", "cc-by-sa-3.0"), ("squad", "cc-by-sa-4.0")]
    capsys.readouterr()
    err = _expect_error(["export", "--out", "ds", "--licence", "apache-2.0"], capsys)
    assert "1 under cc-by-sa-3.0, 1 under cc-by-sa-4.0" in err
    assert main(["export", "--out", "ds", "--licence", "cc-by-sa-4.0"]) == 0
    card = (env / "ds" / "README.md").read_text()
    assert "| databricks-dolly-15k | imported | cc-by-sa-3.0 (share-alike) | 1 |" in card
    assert "| squad | transformed | cc-by-sa-4.0 (share-alike) | 1 |" in card
