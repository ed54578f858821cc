"""Agreement between reviewers (Krippendorff's alpha) and each reviewer's record.

Verdicts are nominal: approve (an edit approves, as in the quorum rule) or reject. Ratings
are ordinal on 1–5. An example is one unit; each reviewer is one coder; a unit counts only
when at least two reviewers gave it a value (alpha needs pairs).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import krippendorff
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.enums import ExampleStatus, Verdict
from store.models import Category, Contributor, Example, Review

ALL = "all"
Level = Literal["nominal", "ordinal"]
RATING_DOMAIN = (1, 2, 3, 4, 5)
VERDICT_DOMAIN = (0, 1)  # 0 reject, 1 approve (or edit)
# A reviewer who approves more than this share of at least MIN_REVIEWS_FOR_FLAG reviews.
APPROVE_FLAG_RATE = 0.97
MIN_REVIEWS_FOR_FLAG = 20
# A reviewer who disagrees with final decisions at least DISAGREE_FLAG_RATIO times as often
# as everyone else pooled, and by DISAGREE_FLAG_MARGIN or more, over MIN_DECIDED_FOR_FLAG.
DISAGREE_FLAG_RATIO = 2.0
DISAGREE_FLAG_MARGIN = 0.2
MIN_DECIDED_FOR_FLAG = 10
# A task left open longer than this (lunch, a weekend) counts as this long.
TASK_CAP_SECONDS = 60 * 60.0


@dataclass(frozen=True)
class Alpha:
    """One Krippendorff's alpha with what it rests on; `value` is None when undefined."""

    value: float | None
    items: int
    reviewers: int
    level: str


@dataclass(frozen=True)
class CategoryAgreement:
    """Alpha on verdicts and on ratings for one category (or `all`)."""

    category: str
    verdicts: Alpha
    ratings: Alpha


@dataclass
class ReviewerRow:
    """One reviewer's record: volume, leniency, agreement with the final decision, speed."""

    contributor_id: int
    slack_user_id: str
    display_name: str
    reviews: int
    approve_rate: float
    decided: int  # reviews of examples that are now approved or rejected
    agreement_with_final: float | None
    median_seconds: float | None
    timed: int  # reviews with a recorded shown time
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewFact:
    """One review reduced to what the figures use."""

    example_id: int
    reviewer_id: int
    category: str
    approve: bool
    rating: int | None
    status: ExampleStatus
    seconds: float | None


def alpha_of(
    units: Mapping[int, Mapping[int, float]], level: Level, domain: Iterable[float]
) -> Alpha:
    """Krippendorff's alpha of unit -> {coder: value}, over units with two or more values."""
    pairable = {u: vals for u, vals in units.items() if len(vals) >= 2}
    coders = sorted({c for vals in pairable.values() for c in vals})
    if not pairable:
        return Alpha(None, 0, 0, level)
    col = {u: i for i, u in enumerate(sorted(pairable))}
    row = {c: i for i, c in enumerate(coders)}
    matrix = np.full((len(coders), len(col)), np.nan)
    for u, vals in pairable.items():
        for c, v in vals.items():
            matrix[row[c], col[u]] = v
    observed = set(matrix[~np.isnan(matrix)].tolist())
    value: float | None = None
    if len(observed) > 1:  # one value everywhere: no expected disagreement, alpha undefined
        value = float(
            krippendorff.alpha(
                reliability_data=matrix,
                value_domain=list(domain),
                level_of_measurement=level,
            )
        )
        value = value if math.isfinite(value) else None
    return Alpha(value, len(col), len(coders), level)


def review_facts(session: Session, *, since: datetime | None = None) -> list[ReviewFact]:
    """Every review (given since `since`) as the plain facts agreement and reviewers need.

    Read once and shared (`build_report`): plain tuples through the connection, since the
    ORM's row objects cost more than the figures at 100k reviews.
    """
    stmt = (
        select(
            Review.example_id,
            Review.reviewer_id,
            Category.slug,
            Review.verdict,
            Review.rating,
            Example.status,
            Review.shown_at,
            Review.created_at,
        )
        .join(Example, Example.id == Review.example_id)
        .join(Category, Category.id == Example.category_id)
        .order_by(Review.id)
    )
    if since is not None:
        stmt = stmt.where(Review.created_at >= since)
    out = []
    for ex_id, who, slug, verdict, rating, status, shown, at in session.connection().execute(stmt):
        seconds = None
        if shown is not None and at is not None:
            seconds = min(max((at - shown).total_seconds(), 0.0), TASK_CAP_SECONDS)
        out.append(
            ReviewFact(
                ex_id,
                who,
                slug,
                Verdict(verdict) != Verdict.REJECT,
                rating,
                ExampleStatus(status),
                seconds,
            )
        )
    return out


def _agreement(facts: list[ReviewFact], name: str) -> CategoryAgreement:
    verdicts: dict[int, dict[int, float]] = defaultdict(dict)
    ratings: dict[int, dict[int, float]] = defaultdict(dict)
    for f in facts:
        verdicts[f.example_id][f.reviewer_id] = 1.0 if f.approve else 0.0
        if f.rating is not None:
            ratings[f.example_id][f.reviewer_id] = float(f.rating)
    return CategoryAgreement(
        name,
        alpha_of(verdicts, "nominal", VERDICT_DOMAIN),
        alpha_of(ratings, "ordinal", RATING_DOMAIN),
    )


def agreement_by_category(
    session: Session,
    *,
    since: datetime | None = None,
    facts: list[ReviewFact] | None = None,
) -> list[CategoryAgreement]:
    """Alpha overall (first, named `all`) and per category with reviews, by slug."""
    facts = review_facts(session, since=since) if facts is None else facts
    per: dict[str, list[ReviewFact]] = defaultdict(list)
    for f in facts:
        per[f.category].append(f)
    return [_agreement(facts, ALL)] + [_agreement(per[c], c) for c in sorted(per)]


def categories_meeting(session: Session, min_alpha: float) -> set[str]:
    """Slugs of categories whose alpha on verdicts is defined and at least `min_alpha`."""
    return {
        a.category
        for a in agreement_by_category(session)[1:]
        if a.verdicts.value is not None and a.verdicts.value >= min_alpha
    }


def _disagrees(f: ReviewFact) -> bool:
    return f.approve != (f.status == ExampleStatus.APPROVED)


def reviewer_rows(
    session: Session,
    *,
    since: datetime | None = None,
    facts: list[ReviewFact] | None = None,
) -> list[ReviewerRow]:
    """Every reviewer's record, most reviews first, with flags for leniency and dissent."""
    by_reviewer: dict[int, list[ReviewFact]] = defaultdict(list)
    for f in review_facts(session, since=since) if facts is None else facts:
        by_reviewer[f.reviewer_id].append(f)
    if not by_reviewer:
        return []
    people = {
        c.id: c for c in session.scalars(select(Contributor).where(Contributor.id.in_(by_reviewer)))
    }
    decided_of = {
        cid: [f for f in fs if f.status in (ExampleStatus.APPROVED, ExampleStatus.REJECTED)]
        for cid, fs in by_reviewer.items()
    }
    dissent = {cid: sum(_disagrees(f) for f in fs) for cid, fs in decided_of.items()}
    total_decided = sum(len(fs) for fs in decided_of.values())
    total_dissent = sum(dissent.values())
    rows = []
    for cid, fs in by_reviewer.items():
        who = people[cid]
        decided = decided_of[cid]
        times = [f.seconds for f in fs if f.seconds is not None]
        row = ReviewerRow(
            contributor_id=cid,
            slack_user_id=who.slack_user_id,
            display_name=who.display_name,
            reviews=len(fs),
            approve_rate=sum(f.approve for f in fs) / len(fs),
            decided=len(decided),
            agreement_with_final=1 - dissent[cid] / len(decided) if decided else None,
            median_seconds=statistics.median(times) if times else None,
            timed=len(times),
        )
        if row.reviews >= MIN_REVIEWS_FOR_FLAG and row.approve_rate > APPROVE_FLAG_RATE:
            row.flags.append("approves_almost_everything")
        peers_decided = total_decided - len(decided)
        if len(decided) >= MIN_DECIDED_FOR_FLAG and peers_decided > 0:
            own = dissent[cid] / len(decided)
            peers = (total_dissent - dissent[cid]) / peers_decided
            if own >= DISAGREE_FLAG_RATIO * peers and own - peers >= DISAGREE_FLAG_MARGIN:
                row.flags.append("disagrees_with_decisions")
        rows.append(row)
    rows.sort(key=lambda r: (-r.reviews, r.contributor_id))
    return rows
