"""Dataset transforms: varied phrasings chosen by seed, configurable columns, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from generators.transforms import PHRASINGS, transform_file
from store.enums import ExampleStatus, Origin
from store.importing import ImportFailed
from store.models import Example
from tests.dbs import TestDatabase

PASSAGES = [
    f"Site {i} of the company opened in {1990 + i}. It employs {20 * i + 5} people and "
    f"runs {i + 2} production lines that make parts for bicycles and scooters."
    for i in range(12)
]


def _qa_file(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "squad_like.jsonl"
    rows = [
        {"context": PASSAGES[i], "question": f"When did site {i} open?", "answer": str(1990 + i)}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _stored(db: TestDatabase) -> list[Example]:
    with db.session() as s:
        rows = list(s.scalars(select(Example).order_by(Example.id)))
        s.expunge_all()
    return rows


def test_qa_rows_become_pending_closed_qa_with_varied_phrasing(
    db: TestDatabase, tmp_path: Path
) -> None:
    with db.session() as s:
        report = transform_file(s, _qa_file(tmp_path), task="qa", seed=1)
    assert (report.read, report.added, report.category) == (12, 12, "closed_qa")
    rows = _stored(db)
    assert all(r.origin == Origin.TRANSFORMED and r.status == ExampleStatus.PENDING for r in rows)
    assert all(r.category.slug == "closed_qa" for r in rows)
    assert [r.source_ref for r in rows] == [f"line {i}" for i in range(1, 13)]
    assert rows[0].context == PASSAGES[0] and rows[0].response == "1990"
    assert all("site" in r.instruction.lower() for r in rows)
    templates = {r.instruction.replace(f"site {i}", "site N") for i, r in enumerate(rows)}
    assert len(templates) >= 3  # not one template repeated
    assert len(report.phrasings) == len(templates)


def test_same_seed_same_phrasings_other_seed_differs(db: TestDatabase, tmp_path: Path) -> None:
    path = _qa_file(tmp_path)

    def run(seed: int) -> list[str]:
        db.reset()
        with db.session() as s:
            transform_file(s, path, task="qa", seed=seed)
        return [r.instruction for r in _stored(db)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_csv_summarization_with_renamed_columns(db: TestDatabase, tmp_path: Path) -> None:
    path = tmp_path / "news.csv"
    article = "\n".join(PASSAGES[:3])  # quoted multi-line field
    path.write_text(
        "id,article,highlights\n"
        f'1,"{article}","Three sites opened between 1990 and 1992."\n'
        f'2,"{PASSAGES[5]}","Site 5 opened in 1995 with 105 people."\n',
        encoding="utf-8",
    )
    with db.session() as s:
        report = transform_file(
            s,
            path,
            task="summarization",
            columns={"document": "article", "summary": "highlights"},
            seed=2,
        )
    assert (report.format, report.added, report.category) == ("csv", 2, "summarization")
    rows = _stored(db)
    assert rows[0].context == article
    assert rows[1].source_ref == "line 5"  # the second record starts after the 3-line field
    assert all(r.instruction in PHRASINGS["summarization"] for r in rows)


def test_translation_names_the_languages(db: TestDatabase, tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "src\ttgt\nLe chat dort sur le canapé.\tThe cat is sleeping on the sofa.\n"
        "Il pleut depuis ce matin.\tIt has been raining since this morning.\n",
        encoding="utf-8",
    )
    with db.session() as s:
        with pytest.raises(Exception, match="--target-lang"):
            transform_file(s, path, task="translation", columns={"source": "src", "target": "tgt"})
        report = transform_file(
            s,
            path,
            task="translation",
            columns={"source": "src", "target": "tgt"},
            source_lang="French",
            target_lang="English",
            category="general_qa",
        )
    assert report.added == 2
    for r in _stored(db):
        assert "English" in r.instruction
        assert r.context.startswith(("Le chat", "Il pleut"))


def test_bad_rows_are_all_reported_and_nothing_is_written(db: TestDatabase, tmp_path: Path) -> None:
    path = _qa_file(tmp_path, 6)
    lines = path.read_text().splitlines()
    lines[2] = '{"context": "broken'
    lines[3] = json.dumps({"context": PASSAGES[3], "answer": "1993"})
    lines[4] = json.dumps({"context": PASSAGES[4], "question": 7, "answer": "1994"})
    lines[5] = json.dumps({"context": PASSAGES[5], "question": "When?", "answer": "  "})
    path.write_text("\n".join(lines) + "\n")
    with db.session() as s, pytest.raises(ImportFailed) as info:
        transform_file(s, path, task="qa")
    assert [e.line for e in info.value.errors] == [3, 4, 5, 6]
    msg = info.value.message
    assert "not valid JSON" in msg and "missing column 'question'" in msg
    assert "--column question=PATH" in msg and "must be text, got int" in msg and "empty" in msg
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 0


def test_running_twice_adds_nothing_twice(db: TestDatabase, tmp_path: Path) -> None:
    path = _qa_file(tmp_path, 4)
    with db.session() as s:
        transform_file(s, path, task="qa")
    with db.session() as s:
        again = transform_file(s, path, task="qa")
    assert (again.added, again.already_present) == (0, 4)


def test_cli_transform(
    db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db.url)
    path = _qa_file(tmp_path, 5)
    assert main(["transform", str(path), "--task", "qa", "--seed", "9"]) == 0
    out = capsys.readouterr().out
    assert "5 added" in out and "closed_qa" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nWhy?,Because.\n")
    assert main(["transform", str(bad), "--task", "qa"]) == 2
    err = capsys.readouterr().err
    assert "line 2: missing column 'context'" in err and "nothing was imported" in err
    assert main(["transform", str(path), "--task", "qa", "--column", "oops"]) == 2
    assert "ROLE=PATH" in capsys.readouterr().err
