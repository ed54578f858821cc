"""Edit distance between an LLM draft and the text people accepted, shown in `crowdtune stats`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from rapidfuzz.distance import Levenshtein

from bot.cli import main
from store.enums import Verdict
from store.examples import PairText
from store.reviews import Quorum, verify_draft
from store.stats import draft_edit_stats, stats_json
from tests.dbs import TestDatabase
from tests.factories import person
from tests.gen_helpers import drafts, run_generate
from tests.llm_double import LlmDouble, running_double


@pytest.fixture
def llm() -> Iterator[LlmDouble]:
    with running_double() as double:
        yield double


def test_edit_distance_of_verified_drafts(
    db: TestDatabase,
    llm: LlmDouble,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_generate(db, llm, count=4, per_request=4)
    d = drafts(db)
    q = Quorum(2, 2)
    edited = PairText(d[1].instruction, "", "A rewritten, better answer from a human expert.")
    with db.session() as s:
        v = person(s, "UV")
        verify_draft(s, example_id=d[0].id, verifier=v, verdict=Verdict.APPROVE, quorum=q)
        verify_draft(
            s, example_id=d[1].id, verifier=v, verdict=Verdict.EDIT, quorum=q, edited=edited
        )
        verify_draft(
            s, example_id=d[2].id, verifier=v, verdict=Verdict.REJECT, quorum=q, reason="wrong"
        )
        # d[3] stays an unverified draft: not counted.
        stats = draft_edit_stats(s)
    expected = Levenshtein.normalized_distance(
        "\x1f".join((d[1].instruction, "", d[1].response)),
        "\x1f".join((edited.instruction, "", edited.response)),
    )
    assert len(stats) == 1
    row = stats[0]
    assert (row.slug, row.verified, row.unchanged) == ("open_qa", 2, 1)
    assert 0 < expected < 1
    assert row.mean_edit_distance == pytest.approx(expected / 2)

    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", db.url)
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "LLM drafts verified" in out and f"{expected / 2:.3f}" in out
    assert main(["stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with db.session() as s:
        base = stats_json(s)
    assert {k: v for k, v in doc.items() if k != "llm_edits"} == base  # issue 2 shape kept
    assert doc["llm_edits"] == {
        "open_qa": {"verified": 2, "unchanged": 1, "mean_edit_distance": round(expected / 2, 4)}
    }
