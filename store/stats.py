"""Counts the bot and the CLI show: per category and status, gaps to target, leaderboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz.distance import Levenshtein
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.counters import (
    category_status_counts,
    contributor_tally,
    top_contributors,
    top_in_window,
)
from store.enums import ExampleKind, ExampleStatus, Origin
from store.models import Category, Contributor, Example, ExampleTurn


@dataclass
class CategoryCounts:
    """Examples of one category by status, with its target and gap."""

    slug: str
    name: str
    target: int
    active: bool
    needs_context: bool
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def approved(self) -> int:
        """Approved examples."""
        return self.by_status.get(ExampleStatus.APPROVED.value, 0)

    @property
    def pending(self) -> int:
        """Examples awaiting review."""
        return self.by_status.get(ExampleStatus.PENDING.value, 0)

    @property
    def gap(self) -> int:
        """target − approved − pending, never below zero."""
        return max(0, self.target - self.approved - self.pending)


# Columns, not ORM objects, in list_categories' order: built once, it is the cheap part.
_CATEGORIES = select(
    Category.id,
    Category.slug,
    Category.name,
    Category.target,
    Category.active,
    Category.needs_context,
).order_by(Category.sort_order, Category.id)


def category_counts(session: Session, *, origin: Origin | None = None) -> list[CategoryCounts]:
    """Counts per category and status for every category, in display order (from counters)."""
    raw = category_status_counts(session, origin=origin.value if origin is not None else None)
    out = []
    for cat_id, slug, name, target, active, needs_context in session.execute(_CATEGORIES):
        by_status = {s.value: raw.get(cat_id, {}).get(s.value, 0) for s in ExampleStatus}
        out.append(CategoryCounts(slug, name, target, active, needs_context, by_status))
    return out


@dataclass
class ConversationCounts:
    """The conversations among one category's examples, by status, and their turns (the
    category's counts include them: a conversation is one example)."""

    slug: str
    by_status: dict[str, int] = field(default_factory=dict)
    turns_by_status: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Conversations of every status."""
        return sum(self.by_status.values())

    @property
    def turns(self) -> int:
        """Turns of those conversations."""
        return sum(self.turns_by_status.values())

    @property
    def approved(self) -> int:
        """Approved conversations."""
        return self.by_status.get(ExampleStatus.APPROVED.value, 0)


_TURNS = (
    select(ExampleTurn.example_id, func.count().label("n"))
    .group_by(ExampleTurn.example_id)
    .subquery("turns")
)
# Reads the conversations' entries of ix_examples_kind_status_category and their turns
# only, however many pairs the corpus holds.
_CONVERSATIONS = (
    select(
        Example.category_id,
        Example.status,
        func.count(),
        func.coalesce(func.sum(_TURNS.c.n), 0),
    )
    .outerjoin(_TURNS, _TURNS.c.example_id == Example.id)
    .where(Example.kind == ExampleKind.CONVERSATION)
    .group_by(Example.category_id, Example.status)
)


def conversation_counts(session: Session) -> dict[str, ConversationCounts]:
    """Category slug -> its conversations by status and their turns, for every category that
    has any, in display order."""
    raw: dict[int, ConversationCounts] = {}
    for cat_id, status, n, turns in session.execute(_CONVERSATIONS):
        counts = raw.setdefault(cat_id, ConversationCounts(""))
        key = ExampleStatus(status).value
        counts.by_status[key] = int(n)
        counts.turns_by_status[key] = int(turns)
    if not raw:
        return {}
    out: dict[str, ConversationCounts] = {}
    for cat_id, slug, *_ in session.execute(_CATEGORIES):
        if cat_id in raw:
            out[slug] = ConversationCounts(slug, raw[cat_id].by_status, raw[cat_id].turns_by_status)
    return out


def gaps(session: Session) -> dict[str, int]:
    """Active category slug → target − approved − pending (≥ 0), largest first."""
    counts = [c for c in category_counts(session) if c.active]
    counts.sort(key=lambda c: (-c.gap, c.slug))
    return {c.slug: c.gap for c in counts}


def largest_gap_category(session: Session) -> Category | None:
    """The active category furthest from its target, or None when all are met."""
    for slug, gap in gaps(session).items():
        if gap > 0:
            return session.scalar(select(Category).where(Category.slug == slug))
    return None


def stats_json(session: Session) -> dict[str, object]:
    """The `crowdtune stats --json` document: totals per category and status, with targets;
    and the conversations among them (by status, with their turns)."""
    categories: dict[str, dict[str, int]] = {}
    total = 0
    for c in category_counts(session):
        categories[c.slug] = {**c.by_status, "target": c.target}
        total += sum(c.by_status.values())
    convs = conversation_counts(session)
    return {
        "total": total,
        "categories": categories,
        "conversations": {
            "total": sum(c.total for c in convs.values()),
            "turns": sum(c.turns for c in convs.values()),
            "categories": {
                slug: {
                    **{st.value: c.by_status.get(st.value, 0) for st in ExampleStatus},
                    "turns": c.turns,
                }
                for slug, c in convs.items()
            },
        },
    }


@dataclass(frozen=True)
class LeaderRow:
    """One line of the leaderboard."""

    contributor_id: int
    slack_user_id: str
    display_name: str
    written: int
    approved: int
    reviews: int

    @property
    def score(self) -> int:
        """Approved examples weigh most; reviews count too, since they are half the work."""
        return 3 * self.approved + self.written + self.reviews


def leaderboard(
    session: Session, *, limit: int = 10, since: datetime | None = None
) -> list[LeaderRow]:
    """Top contributors by score (approved ×3 + written + reviews), optionally since a time.

    All time: the top of the score index. Since a time: the day counters plus the rows of
    since's own day, so the cost follows the people active in the window, not the corpus.
    """
    if limit <= 0:
        return []
    if since is None:
        ranked = top_contributors(session, limit)
    else:
        ranked = top_in_window(session, since, limit)
    if not ranked:
        return []
    ids = [cid for cid, _ in ranked]
    people = {c.id: c for c in session.scalars(select(Contributor).where(Contributor.id.in_(ids)))}
    return [
        LeaderRow(
            cid,
            people[cid].slack_user_id,
            people[cid].display_name,
            t.written,
            t.approved,
            t.reviews,
        )
        for cid, t in ranked
        if cid in people
    ]


@dataclass(frozen=True)
class PersonalCounts:
    """What one person has done, for App Home and thank-you messages."""

    written: int
    approved: int
    pending: int
    reviews: int


def personal_counts(session: Session, contributor: Contributor) -> PersonalCounts:
    """Examples written (by status) and reviews given by this person (from counters)."""
    t = contributor_tally(session, contributor.id)
    return PersonalCounts(
        written=t.written, approved=t.approved, pending=t.pending, reviews=t.reviews
    )


@dataclass(frozen=True)
class DraftEdits:
    """How much people changed the LLM drafts of one category before accepting them."""

    slug: str
    verified: int
    unchanged: int
    mean_edit_distance: float  # normalized Levenshtein, 0 = kept as drafted, 1 = rewritten


def _joined(instruction: str | None, context: str | None, response: str | None) -> str:
    return "\x1f".join(t or "" for t in (instruction, context, response))


def draft_edit_stats(session: Session) -> list[DraftEdits]:
    """Per category, for verified LLM drafts not rejected: mean normalized edit distance
    between the draft text and the current (accepted) text."""
    rows = session.execute(
        select(
            Category.slug,
            Example.instruction,
            Example.context,
            Example.response,
            Example.draft_instruction,
            Example.draft_context,
            Example.draft_response,
        )
        .join(Category, Category.id == Example.category_id)
        .where(
            Example.origin == Origin.LLM,
            Example.verified_at.is_not(None),
            Example.status != ExampleStatus.REJECTED,
            Example.draft_response.is_not(None),
        )
        .order_by(Category.sort_order, Category.slug)
    )
    per: dict[str, list[float]] = {}
    for slug, ins, ctx, resp, d_ins, d_ctx, d_resp in rows:
        dist = Levenshtein.normalized_distance(
            _joined(d_ins, d_ctx, d_resp), _joined(ins, ctx, resp)
        )
        per.setdefault(slug, []).append(float(dist))
    return [
        DraftEdits(slug, len(ds), sum(1 for d in ds if d == 0.0), sum(ds) / len(ds))
        for slug, ds in per.items()
    ]


def llm_edits_json(session: Session) -> dict[str, dict[str, float | int]]:
    """`draft_edit_stats` as the `llm_edits` object of `crowdtune stats --json`."""
    return {
        e.slug: {
            "verified": e.verified,
            "unchanged": e.unchanged,
            "mean_edit_distance": round(e.mean_edit_distance, 4),
        }
        for e in draft_edit_stats(session)
    }


__all__ = [
    "CategoryCounts",
    "ConversationCounts",
    "DraftEdits",
    "LeaderRow",
    "PersonalCounts",
    "category_counts",
    "conversation_counts",
    "draft_edit_stats",
    "gaps",
    "largest_gap_category",
    "leaderboard",
    "llm_edits_json",
    "personal_counts",
    "stats_json",
]
