"""The sourcing methods compared: one row of figures per origin (human, llm, imported, ...)."""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapidfuzz.distance import Levenshtein
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.choices import REPORT_SAMPLE
from store.enums import ExampleKind, ExampleStatus, Origin, Verdict
from store.models import Example, ExampleTurn, LlmUsage, Review
from store.quality.dedup import DedupIndex
from store.report.agreement import TASK_CAP_SECONDS
from store.report.diversity import Diversity, Text, diversity_of

DEFAULT_SAMPLE = REPORT_SAMPLE
TOP_REASONS = 3
_ID_CHUNK = 500
_PUNCT = re.compile(r"[\s.!?;:,]+$")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TokenPrices:
    """Price of a million prompt and completion tokens (None: cost not reported)."""

    prompt_per_mtok: float | None = None
    completion_per_mtok: float | None = None

    def cost(self, prompt: int, completion: int) -> float | None:
        """What these tokens cost, when both prices are known."""
        if self.prompt_per_mtok is None or self.completion_per_mtok is None:
            return None
        return (prompt * self.prompt_per_mtok + completion * self.completion_per_mtok) / 1e6


@dataclass
class OriginRow:
    """Figures of one sourcing method (origin); rates and means are None without data."""

    origin: str
    examples: int
    by_status: dict[str, int]
    approval_rate: float | None  # approved / (approved + rejected)
    rejection_reasons: list[tuple[str, int]]
    writes: int  # examples people wrote (human origin)
    writes_timed: int
    reviews: int  # reviews and verifications of these examples
    reviews_timed: int
    person_minutes: float | None  # estimated from the timed tasks, all tasks counted
    person_minutes_per_accepted: float | None
    prompt_tokens: int
    completion_tokens: int
    tokens_per_accepted: float | None
    cost_per_accepted: float | None
    edit_distance_mean: float | None  # LLM drafts: normalized Levenshtein draft -> accepted
    edit_distance_median: float | None
    diversity: Diversity
    weekly: dict[str, int] = field(default_factory=dict)  # Monday (ISO date) -> accepted
    # Of the examples, the conversations (one example each) and their turns.
    conversations: int = 0
    turns: int = 0

    @property
    def accepted(self) -> int:
        """Approved examples."""
        return self.by_status.get(ExampleStatus.APPROVED.value, 0)


@dataclass
class _Tally:
    ids: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    status: Counter[str] = field(default_factory=Counter)
    weeks: Counter[str] = field(default_factory=Counter)
    write_seconds: float = 0.0
    writes: int = 0
    writes_timed: int = 0
    review_seconds: float = 0.0
    reviews: int = 0
    reviews_timed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    conversations: int = 0
    turns: int = 0


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return min(max((end - start).total_seconds(), 0.0), TASK_CAP_SECONDS)


def _week(at: datetime) -> str:
    return (at.date() - timedelta(days=at.weekday())).isoformat()


def _reason_key(reason: str) -> str:
    # "Wrong answer." and "wrong answer" are one reason.
    return _PUNCT.sub("", _SPACE.sub(" ", reason.strip().casefold()))


def _estimate(seconds: float, timed: int, total: int) -> float | None:
    # Untimed tasks (before timing was recorded) are assumed to take the timed ones' mean.
    if total == 0:
        return 0.0
    return seconds * total / timed if timed else None


def _tally_examples(session: Session, since: datetime | None) -> dict[Origin, _Tally]:
    tallies: dict[Origin, _Tally] = defaultdict(_Tally)
    stmt = select(
        Example.id,
        Example.origin,
        Example.status,
        Example.created_at,
        Example.decided_at,
        Example.write_started_at,
        Example.kind,
    ).order_by(Example.id)
    if since is not None:
        stmt = stmt.where(Example.created_at >= since)
    for ex_id, origin, status, created, decided, started, kind in session.execute(stmt):
        t = tallies[Origin(origin)]
        t.ids.append(ex_id)
        t.conversations += kind == ExampleKind.CONVERSATION
        t.status[ExampleStatus(status).value] += 1
        if status == ExampleStatus.APPROVED:
            t.accepted.append(ex_id)
            t.weeks[_week(decided or created)] += 1
        if origin == Origin.HUMAN:
            t.writes += 1
            secs = _seconds(started, created)
            if secs is not None:
                t.writes_timed += 1
                t.write_seconds += secs
    rstmt = select(
        Example.origin, Review.verdict, Review.reason, Review.shown_at, Review.created_at
    ).join(Example, Example.id == Review.example_id)
    if since is not None:
        rstmt = rstmt.where(Example.created_at >= since)
    for origin, verdict, reason, shown, at in session.execute(rstmt):
        t = tallies[Origin(origin)]
        t.reviews += 1
        secs = _seconds(shown, at)
        if secs is not None:
            t.reviews_timed += 1
            t.review_seconds += secs
        if verdict == Verdict.REJECT and reason:
            t.reasons[_reason_key(reason)] += 1
    tstmt = (
        select(Example.origin, func.count())
        .join(ExampleTurn, ExampleTurn.example_id == Example.id)
        .where(Example.kind == ExampleKind.CONVERSATION)
        .group_by(Example.origin)
    )
    if since is not None:
        tstmt = tstmt.where(Example.created_at >= since)
    for origin, n in session.execute(tstmt):
        tallies[Origin(origin)].turns += int(n)
    return tallies


def _llm_tokens(session: Session, since: datetime | None) -> tuple[int, int]:
    # Every request counts, also those whose draft was discarded: that is what was paid for.
    stmt = select(
        func.coalesce(func.sum(LlmUsage.prompt_tokens), 0),
        func.coalesce(func.sum(LlmUsage.completion_tokens), 0),
    )
    if since is not None:
        stmt = stmt.where(LlmUsage.day >= since.date())
    prompt, completion = session.execute(stmt).one()
    return int(prompt), int(completion)


def _joined(*parts: str | None) -> str:
    return "\x1f".join(p or "" for p in parts)


def _edit_distances(session: Session, ids: Sequence[int]) -> list[float]:
    out: list[float] = []
    for start in range(0, len(ids), _ID_CHUNK):
        rows = session.execute(
            select(
                Example.instruction,
                Example.context,
                Example.response,
                Example.draft_instruction,
                Example.draft_context,
                Example.draft_response,
            ).where(
                Example.id.in_(list(ids[start : start + _ID_CHUNK])),
                Example.draft_response.is_not(None),
            )
        )
        for ins, ctx, resp, d_ins, d_ctx, d_resp in rows:
            out.append(
                float(
                    Levenshtein.normalized_distance(
                        _joined(d_ins, d_ctx, d_resp), _joined(ins, ctx, resp)
                    )
                )
            )
    return out


def _texts(session: Session, ids: Sequence[int]) -> list[Text]:
    # In the order of `ids` (a random sample's order matters to distinct-n).
    out: list[Text] = []
    for start in range(0, len(ids), _ID_CHUNK):
        rows = session.execute(
            select(Example.id, Example.instruction, Example.context, Example.response)
            .where(Example.id.in_(list(ids[start : start + _ID_CHUNK])))
            .order_by(Example.id)
        )
        out.extend(Text(i, ins, ctx or "", resp) for i, ins, ctx, resp in rows)
    place = {example_id: n for n, example_id in enumerate(ids)}
    return sorted(out, key=lambda t: place[t.example_id])


def origin_rows(
    session: Session,
    *,
    since: datetime | None = None,
    prices: TokenPrices | None = None,
    index: DedupIndex | None = None,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> list[OriginRow]:
    """One row per origin that has examples (created since `since`), in the Origin order.

    Diversity is measured on up to `sample` accepted examples per origin (a seeded sample),
    nearest neighbours in `index` (None: that figure is left out).
    """
    prices = prices or TokenPrices()
    tallies = _tally_examples(session, since)
    prompt, completion = _llm_tokens(session, since)
    # A seeded random sample per origin, in random order; distinct-n is compared on the
    # size of the smallest, since it falls as a sample grows.
    samples = {
        o: random.Random(f"{seed}:{o.value}").sample(t.accepted, min(sample, len(t.accepted)))
        for o, t in tallies.items()
    }
    common = min((len(c) for c in samples.values() if c), default=None)
    rows = []
    for origin in Origin:
        t = tallies.get(origin)
        if t is None:
            continue
        accepted = len(t.accepted)
        decided = t.status[ExampleStatus.APPROVED.value] + t.status[ExampleStatus.REJECTED.value]
        write = _estimate(t.write_seconds, t.writes_timed, t.writes)
        review = _estimate(t.review_seconds, t.reviews_timed, t.reviews)
        minutes = None if write is None or review is None else (write + review) / 60
        p, c = (prompt, completion) if origin == Origin.LLM else (0, 0)
        cost = prices.cost(p, c)
        edits = _edit_distances(session, t.accepted) if origin == Origin.LLM else []
        rows.append(
            OriginRow(
                origin=origin.value,
                examples=len(t.ids),
                by_status={s.value: t.status[s.value] for s in ExampleStatus},
                approval_rate=t.status[ExampleStatus.APPROVED.value] / decided if decided else None,
                rejection_reasons=t.reasons.most_common(TOP_REASONS),
                writes=t.writes,
                writes_timed=t.writes_timed,
                reviews=t.reviews,
                reviews_timed=t.reviews_timed,
                person_minutes=minutes,
                person_minutes_per_accepted=minutes / accepted
                if minutes is not None and accepted
                else None,
                prompt_tokens=p,
                completion_tokens=c,
                tokens_per_accepted=(p + c) / accepted if accepted else None,
                cost_per_accepted=cost / accepted if cost is not None and accepted else None,
                edit_distance_mean=statistics.fmean(edits) if edits else None,
                edit_distance_median=statistics.median(edits) if edits else None,
                diversity=diversity_of(
                    _texts(session, samples[origin]), index, distinct_size=common
                ),
                weekly=dict(sorted(t.weeks.items())),
                conversations=t.conversations,
                turns=t.turns,
            )
        )
    return rows


@dataclass(frozen=True)
class OriginMix:
    """What one origin contributes to a set of examples (an export): rows and their ratings."""

    origin: str
    rows: int
    share: float
    rated: int  # rows with at least one rating
    mean_rating: float | None


def origin_mix(session: Session, ids: Sequence[int]) -> list[OriginMix]:
    """Per origin, the rows among `ids` and the mean of their reviewers' 1–5 ratings."""
    rows: Counter[str] = Counter()
    rated: Counter[str] = Counter()
    sums: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = list(ids[start : start + _ID_CHUNK])
        for origin, n in session.execute(
            select(Example.origin, func.count())
            .where(Example.id.in_(chunk))
            .group_by(Example.origin)
        ):
            rows[Origin(origin).value] += int(n)
        per_example = (
            select(
                Review.example_id.label("eid"),
                func.sum(Review.rating).label("total"),
                func.count(Review.rating).label("n"),
            )
            .where(Review.example_id.in_(chunk), Review.rating.is_not(None))
            .group_by(Review.example_id)
            .subquery()
        )
        for origin, examples, total, n in session.execute(
            select(
                Example.origin,
                func.count(),
                func.sum(per_example.c.total),
                func.sum(per_example.c.n),
            )
            .join(per_example, per_example.c.eid == Example.id)
            .group_by(Example.origin)
        ):
            key = Origin(origin).value
            rated[key] += int(examples)
            sums[key] += int(total or 0)
            counts[key] += int(n or 0)
    everything = sum(rows.values())
    return [
        OriginMix(
            o.value,
            rows[o.value],
            rows[o.value] / everything,
            rated[o.value],
            sums[o.value] / counts[o.value] if counts[o.value] else None,
        )
        for o in Origin
        if rows[o.value]
    ]
