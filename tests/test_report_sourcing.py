"""The per-origin table on a fixture mixing all four origins, every figure checked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from store.enums import ExampleStatus, Origin, Verdict
from store.examples import PairText
from store.llm_usage import record_usage
from store.models import Example, Review
from store.quality.dedup import DedupIndex
from store.report import (
    TokenPrices,
    build_report,
    distinct_n,
    diversity_of,
    origin_mix,
    origin_rows,
)
from store.report.diversity import Text
from store.reviews import Quorum, record_review, verify_draft
from tests.dbs import TestDatabase
from tests.factories import example, person

Q = Quorum(2, 2)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
DRAFT = "The answer is ten."
ACCEPTED = "The answer is 10."
QUESTION = "Name the number after nine."  # 27 characters


def _timed(review: Review, seconds: float | None) -> None:
    if seconds is not None:
        review.shown_at = T0
        review.created_at = T0 + timedelta(seconds=seconds)


def _review(s, ex: Example, who, verdict=Verdict.APPROVE, seconds=None, reason=None):  # type: ignore[no-untyped-def]
    out = record_review(s, example_id=ex.id, reviewer=who, verdict=verdict, quorum=Q, reason=reason)
    _timed(out.review, seconds)
    return out


def _fixture(db: TestDatabase) -> None:
    with db.session() as s:
        w, r1, r2, r3 = (person(s, u) for u in ("UW", "UR1", "UR2", "UR3"))
        # human: three written (2, 4 and 1 minutes), each reviewed twice in 30 s; one rejected.
        for minutes, week, verdict in (
            (2, 0, Verdict.APPROVE),
            (4, 1, Verdict.APPROVE),
            (1, 0, Verdict.REJECT),
        ):
            ex = example(s, w)
            ex.write_started_at = T0
            ex.created_at = T0 + timedelta(minutes=minutes)
            reason = "Wrong answer." if verdict == Verdict.REJECT else None
            _review(s, ex, r1, verdict, 30, reason)
            _review(s, ex, r2, verdict, 30, "wrong   answer" if reason else None)
            ex.decided_at = T0 + timedelta(weeks=week, days=2)
        # llm: three drafts verified in 60 s each; one rejected at verification, one edited
        # ("ten" -> "10"), one kept; the two accepted need one more 30 s review each.
        for verdict in (Verdict.APPROVE, Verdict.EDIT, Verdict.REJECT):
            ex = example(
                s,
                None,
                status=ExampleStatus.DRAFT,
                origin=Origin.LLM,
                instruction=QUESTION,
                response=DRAFT,
            )
            ex.draft_instruction, ex.draft_context, ex.draft_response = (
                ex.instruction,
                "",
                DRAFT,
            )
            edited = PairText(ex.instruction, "", ACCEPTED) if verdict == Verdict.EDIT else None
            out = verify_draft(
                s,
                example_id=ex.id,
                verifier=r1,
                verdict=verdict,
                quorum=Q,
                edited=edited,
                reason="Made up." if verdict == Verdict.REJECT else None,
            )
            _timed(out.review, 60)
            if verdict != Verdict.REJECT:
                _review(s, ex, r2, seconds=30)
                ex.decided_at = T0 + timedelta(weeks=1)
            record_usage(
                s,
                day=date(2026, 11, 2),
                model="m",
                category_id=None,
                prompt_tokens=1000,
                completion_tokens=500,
                outcome="ok",
            )
        # imported: two approved as they came, nobody's time spent.
        for ins, resp in (("Name a fruit", "Apple"), ("Name a color", "Red")):
            ex = example(
                s,
                None,
                origin=Origin.IMPORTED,
                status=ExampleStatus.APPROVED,
                instruction=ins,
                response=resp,
            )
            ex.created_at = T0 + timedelta(weeks=2)
        # transformed: one approved and one pending, by reviews given before timing existed.
        a, b = (example(s, None, origin=Origin.TRANSFORMED) for _ in range(2))
        _review(s, a, r1)
        _review(s, a, r3)
        _review(s, b, r3)
        a.decided_at = T0


def test_per_origin_table_by_hand(db: TestDatabase) -> None:
    _fixture(db)
    prices = TokenPrices(prompt_per_mtok=0.5, completion_per_mtok=2.0)
    with db.session() as s:
        rows = {
            r.origin: r for r in origin_rows(s, prices=prices, index=DedupIndex.from_session(s))
        }
    assert list(rows) == ["human", "llm", "imported", "transformed"]

    human = rows["human"]
    assert (human.examples, human.accepted) == (3, 2)
    assert human.by_status == {
        "draft": 0,
        "pending": 0,
        "awaiting_consent": 0,
        "approved": 2,
        "rejected": 1,
    }
    assert human.approval_rate == pytest.approx(2 / 3)
    assert human.rejection_reasons == [("wrong answer", 2)]
    assert (human.writes, human.writes_timed, human.reviews, human.reviews_timed) == (3, 3, 6, 6)
    # (2 + 4 + 1) minutes writing + 6 x 30 s reviewing = 10 minutes, over 2 accepted.
    assert human.person_minutes == pytest.approx(10.0)
    assert human.person_minutes_per_accepted == pytest.approx(5.0)
    # No LLM was asked for these: no tokens, no cost.
    assert (human.prompt_tokens, human.tokens_per_accepted, human.cost_per_accepted) == (0, 0, 0)
    assert human.weekly == {"2026-11-02": 1, "2026-11-09": 1}

    llm = rows["llm"]
    assert (llm.examples, llm.accepted, llm.approval_rate) == (3, 2, pytest.approx(2 / 3))
    assert llm.rejection_reasons == [("made up", 1)]
    assert (llm.writes, llm.reviews, llm.reviews_timed) == (0, 5, 5)
    # 3 x 60 s verifying + 2 x 30 s reviewing = 4 minutes over 2 accepted.
    assert llm.person_minutes_per_accepted == pytest.approx(2.0)
    assert (llm.prompt_tokens, llm.completion_tokens) == (3000, 1500)
    assert llm.tokens_per_accepted == pytest.approx(2250)
    # 3000 x 0.5 / 1e6 + 1500 x 2 / 1e6 = 0.0045, over 2 accepted.
    assert llm.cost_per_accepted == pytest.approx(0.00225)
    # One kept as drafted (0); one with "ten" -> "10": 3 edits over the 47 characters of
    # 27-character instruction, two separators and the 18-character draft response.
    assert llm.edit_distance_mean == pytest.approx((0 + 3 / 47) / 2)
    assert llm.edit_distance_median == pytest.approx((0 + 3 / 47) / 2)
    assert llm.weekly == {"2026-11-09": 2}

    imported = rows["imported"]
    assert (imported.examples, imported.accepted, imported.approval_rate) == (2, 2, 1.0)
    assert (imported.reviews, imported.person_minutes, imported.person_minutes_per_accepted) == (
        0,
        0.0,
        0.0,
    )
    d = imported.diversity
    # Distinct-n is compared at the smallest origin's sample (transformed: one accepted), and
    # one short text repeats nothing.
    assert (d.n, d.distinct_size, d.distinct_1, d.distinct_2) == (2, 1, 1.0, 1.0)
    # Each one's nearest is the other: LCS 2 of 3 + 3 tokens, F1 = 4/6.
    assert d.nearest_rouge_l == pytest.approx(2 / 3) and d.near_share == 1.0
    assert d.openings == [("name a", 1.0)] and d.top_openings_share == 1.0
    assert d.instruction_words == {"p10": 3, "p50": 3, "p90": 3}
    assert d.response_words == {"p10": 1, "p50": 1, "p90": 1}
    assert imported.weekly == {"2026-11-16": 2}

    transformed = rows["transformed"]
    assert (transformed.examples, transformed.accepted, transformed.approval_rate) == (2, 1, 1.0)
    # Three reviews, none timed: the time cannot be estimated, and the table says so.
    assert (transformed.reviews, transformed.reviews_timed) == (3, 0)
    assert transformed.person_minutes is None and transformed.person_minutes_per_accepted is None
    assert transformed.weekly == {"2026-11-02": 1}


def test_since_keeps_the_examples_created_from_then_on(db: TestDatabase) -> None:
    _fixture(db)
    with db.session() as s:
        rows = origin_rows(s, since=T0 + timedelta(weeks=1), index=None)
    assert {r.origin: r.examples for r in rows} == {"imported": 2, "llm": 3, "transformed": 2}


def test_report_json_and_origin_mix(db: TestDatabase) -> None:
    _fixture(db)
    with db.session() as s:
        doc = build_report(s, prices=TokenPrices(0.5, 2.0)).as_dict()
        approved = s.scalars(
            select(Example.id).where(Example.status == ExampleStatus.APPROVED).order_by(Example.id)
        ).all()
        reviewed = s.scalars(select(Review).where(Review.example_id == approved[0])).all()
        for rv in reviewed:
            rv.rating = 4
        mix = {m.origin: m for m in origin_mix(s, approved)}
    assert [o["origin"] for o in doc["origins"]] == ["human", "llm", "imported", "transformed"]
    assert doc["origins"][1]["cost_per_accepted"] == pytest.approx(0.00225, abs=1e-4)
    assert doc["agreement"][0]["category"] == "all"
    assert {m: (x.rows, x.rated) for m, x in mix.items()} == {
        "human": (2, 1),
        "llm": (2, 0),
        "imported": (2, 0),
        "transformed": (1, 0),
    }
    assert mix["human"].mean_rating == 4.0 and mix["llm"].mean_rating is None
    assert mix["human"].share == pytest.approx(2 / 7)


def test_distinct_n_by_hand() -> None:
    # Tokens: [name a fruit] [name a color] [apple] [red]: 6 distinct of 8; bigrams
    # (name a) twice, (a fruit), (a color): 3 distinct of 4.
    texts = [
        Text(1, "Name a fruit", "", "Apple"),
        Text(2, "Name a color", "", "Red"),
    ]
    d = diversity_of(texts, None)
    assert (d.distinct_size, d.distinct_1, d.distinct_2, d.nearest_rouge_l) == (2, 0.75, 0.75, None)
    assert distinct_n([["a"]], 2) is None  # no bigram at all
