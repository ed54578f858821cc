"""Reviewer agreement on reviews stored in a real database, against alphas known in advance."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select

from store.enums import Verdict
from store.examples import PairText
from store.models import Review
from store.report import agreement_by_category, alpha_of, reviewer_rows
from store.reviews import Quorum, record_review
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.factories import example, person

NAN = math.nan
OPEN = Quorum(50, 50)  # never decides: the reviews stay as constructed

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", A: binary data, two
# observers, no missing data; alpha = 0.095.
BINARY = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]
# The krippendorff package's docstring (from Krippendorff's paper, p. 8): four coders, twelve
# units, values 1-5 with missing values; ordinal alpha = 0.815.
ORDINAL = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
# The package's nominal example: three coders, fifteen units, values 1-4; alpha = 0.691358.
NOMINAL = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]


def _units(matrix: list[list[float]]) -> dict[int, dict[int, float]]:
    units: dict[int, dict[int, float]] = {}
    for coder, row in enumerate(matrix):
        for unit, value in enumerate(row):
            if not math.isnan(value):
                units.setdefault(unit, {})[coder] = value
    return units


def test_alpha_of_the_packages_nominal_textbook_example() -> None:
    got = alpha_of(_units(NOMINAL), "nominal", (1, 2, 3, 4))
    assert round(got.value or 0, 6) == 0.691358
    # Units 2 and 14 have no value and unit 1 has one: 12 units can be paired; 3 coders.
    assert (got.items, got.reviewers) == (12, 3)


def test_alpha_is_undefined_without_pairs_or_without_variation() -> None:
    assert alpha_of({1: {1: 1.0}}, "nominal", (0, 1)).value is None
    same = alpha_of({1: {1: 1.0, 2: 1.0}, 2: {1: 1.0, 3: 1.0}}, "nominal", (0, 1))
    assert same.value is None and (same.items, same.reviewers) == (2, 3)


def _store_matrix(
    db: TestDatabase, matrix: list[list[float]], *, category: str, as_rating: bool
) -> None:
    """Each column an example, each row a reviewer; a value is a verdict (0/1) or a rating."""
    with db.session() as s:
        writer = person(s, f"W{category}")
        coders = [person(s, f"R{category}{i}") for i in range(len(matrix))]
        for unit in range(len(matrix[0])):
            ex = example(s, writer, category=category)
            for coder, row in zip(coders, matrix, strict=True):
                value = row[unit]
                if math.isnan(value):
                    continue
                if as_rating:
                    verdict, reason, rating = Verdict.APPROVE, None, int(value)
                elif value == 1:
                    verdict, reason, rating = Verdict.APPROVE, None, None
                else:
                    verdict, reason, rating = Verdict.REJECT, "Not helpful.", None
                record_review(
                    s,
                    example_id=ex.id,
                    reviewer=coder,
                    verdict=verdict,
                    quorum=OPEN,
                    reason=reason,
                    rating=rating,
                )


def test_textbook_alphas_per_category_and_overall(db: TestDatabase) -> None:
    _store_matrix(db, BINARY, category="open_qa", as_rating=False)
    _store_matrix(db, ORDINAL, category="brainstorming", as_rating=True)
    with db.session() as s:
        rows = {a.category: a for a in agreement_by_category(s)}
    assert list(rows) == ["all", "brainstorming", "open_qa"]
    open_qa = rows["open_qa"]
    assert round(open_qa.verdicts.value or 0, 3) == 0.095
    assert (open_qa.verdicts.items, open_qa.verdicts.reviewers) == (10, 2)
    assert open_qa.ratings.value is None and open_qa.ratings.items == 0
    brain = rows["brainstorming"]
    assert round(brain.ratings.value or 0, 3) == 0.815
    # Unit 12 has a single rating: eleven units can be paired, by four reviewers.
    assert (brain.ratings.items, brain.ratings.reviewers) == (11, 4)
    assert brain.verdicts.value is None  # every rating review approved: no variation
    # Overall on verdicts, by hand from Krippendorff's coincidence matrix: the binary units
    # give o00 = 10, o01 = o10 = 4, o11 = 2 (n0 = 14, n1 = 6); the eleven pairable approve
    # units add their 40 values to n1. So n = 60, n0 = 14, n1 = 46 and
    # alpha = 1 - (n - 1)(o01 + o10) / (2 n0 n1) = 1 - 59 * 8 / (2 * 14 * 46).
    overall = rows["all"]
    assert overall.verdicts.value == pytest.approx(1 - 59 * 8 / (2 * 14 * 46))
    assert (overall.verdicts.items, overall.verdicts.reviewers) == (21, 6)
    assert round(overall.ratings.value or 0, 3) == 0.815


def test_reviewer_rows_flag_the_lenient_and_the_dissenting(db: TestDatabase) -> None:
    quorum = Quorum(2, 2)
    base = utcnow() - timedelta(hours=2)
    with db.session() as s:
        writer, a, b, d = (person(s, u) for u in ("UW", "UA", "UB", "UD"))
        for i in range(25):
            ex = example(s, writer)
            if i < 12:  # D rejects first, then A and B approve it: approved against D
                record_review(
                    s,
                    example_id=ex.id,
                    reviewer=d,
                    verdict=Verdict.REJECT,
                    quorum=quorum,
                    reason="Off topic.",
                )
            record_review(s, example_id=ex.id, reviewer=a, verdict=Verdict.APPROVE, quorum=quorum)
            edited = PairText(ex.instruction, "", ex.response + " Edited.")
            record_review(
                s, example_id=ex.id, reviewer=b, verdict=Verdict.EDIT, quorum=quorum, edited=edited
            )
        # A took 40 s to decide on each, D 10 s on six of them; B is untimed.
        for r in s.scalars(select(Review).where(Review.reviewer_id == a.id)):
            r.shown_at, r.created_at = base, base + timedelta(seconds=40)
        for r in list(s.scalars(select(Review).where(Review.reviewer_id == d.id)))[:6]:
            r.shown_at, r.created_at = base, base + timedelta(seconds=10)
    with db.session() as s:
        rows = {r.slack_user_id: r for r in reviewer_rows(s)}
    ra, rb, rd = rows["UA"], rows["UB"], rows["UD"]
    assert (ra.reviews, ra.approve_rate, ra.decided, ra.agreement_with_final) == (25, 1.0, 25, 1.0)
    assert (ra.median_seconds, ra.timed) == (40.0, 25)
    assert ra.flags == ["approves_almost_everything"]
    assert rb.flags == ["approves_almost_everything"]  # an edit approves
    assert rb.median_seconds is None and rb.timed == 0
    assert (rd.reviews, rd.approve_rate, rd.decided, rd.agreement_with_final) == (12, 0.0, 12, 0.0)
    assert (rd.median_seconds, rd.timed) == (10.0, 6)
    assert rd.flags == ["disagrees_with_decisions"]
    assert list(rows) == ["UA", "UB", "UD"]


def test_a_modest_approver_with_few_reviews_is_not_flagged(db: TestDatabase) -> None:
    with db.session() as s:
        writer, a = person(s, "UW"), person(s, "UA")
        for _ in range(19):  # 100% approvals, but under the 20 reviews a flag needs
            record_review(
                s,
                example_id=example(s, writer).id,
                reviewer=a,
                verdict=Verdict.APPROVE,
                quorum=OPEN,
            )
    with db.session() as s:
        (row,) = reviewer_rows(s)
    assert row.flags == [] and row.decided == 0 and row.agreement_with_final is None
