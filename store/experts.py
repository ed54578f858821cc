"""Who knows what: category experts, people's interests, and routing work by both."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, literal, select, union_all
from sqlalchemy.orm import Session

from store.enums import ExampleStatus
from store.examples import next_for_review
from store.models import Category, CategoryExpert, Contributor, ContributorInterest, Example

# How much more a category's gap counts for a person who picked it in App Home.
INTEREST_WEIGHT = 2.0


def experts_of(session: Session, category_id: int) -> set[str]:
    """Slack user ids of this category's experts (named or from its user group)."""
    return set(
        session.scalars(
            select(CategoryExpert.slack_user_id).where(CategoryExpert.category_id == category_id)
        )
    )


def named_experts(session: Session, category_id: int) -> list[str]:
    """Experts named directly (not via the user group), in id order."""
    return list(
        session.scalars(
            select(CategoryExpert.slack_user_id)
            .where(
                CategoryExpert.category_id == category_id,
                CategoryExpert.via_usergroup.is_(False),
            )
            .order_by(CategoryExpert.slack_user_id)
        )
    )


def expertise(session: Session, slack_user_id: str) -> set[int]:
    """Ids of the categories this person is an expert of."""
    return set(
        session.scalars(
            select(CategoryExpert.category_id).where(CategoryExpert.slack_user_id == slack_user_id)
        )
    )


def expertise_map(session: Session) -> dict[str, set[int]]:
    """Slack user id → expert category ids, for everyone (one query for a nudge run)."""
    out: dict[str, set[int]] = {}
    for user_id, cat_id in session.execute(
        select(CategoryExpert.slack_user_id, CategoryExpert.category_id)
    ):
        out.setdefault(user_id, set()).add(cat_id)
    return out


def interests_of(session: Session, contributor: Contributor) -> set[int]:
    """Ids of the categories this person said they like to help with."""
    return set(
        session.scalars(
            select(ContributorInterest.category_id).where(
                ContributorInterest.contributor_id == contributor.id
            )
        )
    )


def interest_slugs(session: Session, contributor: Contributor) -> set[str]:
    """Slugs of the categories this person picked."""
    return set(
        session.scalars(
            select(Category.slug)
            .join(ContributorInterest, ContributorInterest.category_id == Category.id)
            .where(ContributorInterest.contributor_id == contributor.id)
        )
    )


def interests_map(session: Session) -> dict[int, set[int]]:
    """Contributor id → interest category ids, for everyone."""
    out: dict[int, set[int]] = {}
    for cid, cat_id in session.execute(
        select(ContributorInterest.contributor_id, ContributorInterest.category_id)
    ):
        out.setdefault(cid, set()).add(cat_id)
    return out


def set_interests(session: Session, contributor: Contributor, slugs: Iterable[str]) -> set[int]:
    """Replace this person's interests with the active categories named; returns their ids.

    Unknown or retired slugs are ignored: the App Home list may be older than the catalogue.
    """
    wanted = set(slugs)
    ids = set(
        session.scalars(
            select(Category.id).where(Category.slug.in_(wanted), Category.active.is_(True))
        )
    )
    session.execute(
        delete(ContributorInterest).where(ContributorInterest.contributor_id == contributor.id)
    )
    for cat_id in sorted(ids):
        session.add(ContributorInterest(contributor_id=contributor.id, category_id=cat_id))
    session.flush()
    return ids


@dataclass(frozen=True)
class Affinity:
    """What a person brings: categories they are an expert of, and those they picked."""

    expert: frozenset[int] = frozenset()
    interested: frozenset[int] = frozenset()

    def score(self, category_id: int, gap: int) -> tuple[int, float]:
        """How a category's gap ranks for this person: their expert categories first, then
        the gap, doubled for the categories they picked."""
        if category_id in self.expert:
            return (1, float(gap))
        return (0, gap * (INTEREST_WEIGHT if category_id in self.interested else 1.0))


# Both halves of a person's affinity in one round trip (it is read before every next item to
# review): rows of (True, expert category id) and (False, picked category id). Built once.
_AFFINITY_ROWS = union_all(
    select(literal(True).label("expert"), CategoryExpert.category_id).where(
        CategoryExpert.slack_user_id == bindparam("slack_user_id")
    ),
    select(literal(False).label("expert"), ContributorInterest.category_id).where(
        ContributorInterest.contributor_id == bindparam("contributor_id")
    ),
)


def affinity(session: Session, contributor: Contributor) -> Affinity:
    """This person's expertise and interests."""
    expert: set[int] = set()
    interested: set[int] = set()
    params = {"slack_user_id": contributor.slack_user_id, "contributor_id": contributor.id}
    for is_expert, category_id in session.execute(_AFFINITY_ROWS, params):
        (expert if is_expert else interested).add(category_id)
    return Affinity(frozenset(expert), frozenset(interested))


def affinity_for(session: Session, team_id: str, slack_user_id: str) -> Affinity:
    """The expertise and interests of a Slack user, whether or not they have written before."""
    cid = session.scalar(
        select(Contributor.id).where(
            Contributor.team_id == team_id, Contributor.slack_user_id == slack_user_id
        )
    )
    interested = (
        session.scalars(
            select(ContributorInterest.category_id).where(ContributorInterest.contributor_id == cid)
        )
        if cid is not None
        else ()
    )
    return Affinity(frozenset(expertise(session, slack_user_id)), frozenset(interested))


def suggest_category(
    gaps: Mapping[str, int], ids: Mapping[str, int], person: Affinity
) -> str | None:
    """The slug to suggest to this person (None: every target is met).

    `gaps` is slug → gap of active categories (ties go to the one listed first); `ids` maps
    those slugs to category ids. Experts come first for their domain: a category they know
    that still has a gap wins; otherwise the largest gap, doubled where they are interested.
    """
    best: tuple[tuple[int, float], int] | None = None
    choice: str | None = None
    for order, (slug, gap) in enumerate(gaps.items()):
        if gap <= 0 or slug not in ids:
            continue
        score = (person.score(ids[slug], gap), -order)
        if best is None or score > best:
            best, choice = score, slug
    return choice


def next_for_review_routed(
    session: Session,
    reviewer: Contributor,
    person: Affinity,
    *,
    status: ExampleStatus = ExampleStatus.PENDING,
    exclude_ids: frozenset[int] = frozenset(),
) -> Example | None:
    """The next example to review, from the person's expert categories first, then any."""
    for cat_id in sorted(person.expert):
        found = next_for_review(
            session, reviewer, status=status, category_id=cat_id, exclude_ids=exclude_ids
        )
        if found is not None:
            return found
    return next_for_review(session, reviewer, status=status, exclude_ids=exclude_ids)


def expert_first(
    people: Sequence[Contributor], experts: Mapping[str, set[int]], gap_ids: set[int]
) -> list[Contributor]:
    """People reordered so experts of a category with a gap are asked first (stable)."""

    def key(p: Contributor) -> int:
        return 0 if experts.get(p.slack_user_id, set()) & gap_ids else 1

    return sorted(people, key=key)
