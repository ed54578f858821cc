"""The category catalogue: Dolly's eight categories as defaults, targets, lookups."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import NotFound, ValidationFailed
from store.models import Category, CategoryGuideline


@dataclass(frozen=True)
class CategorySpec:
    """A default category as shipped (the same texts Dolly's annotators were given)."""

    slug: str
    name: str
    needs_context: bool
    target: int
    guideline: str
    min_response_chars: int = 2


DEFAULT_CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "open_qa",
        "Open QA",
        False,
        1500,
        "Write a question that can be answered with general world knowledge, without a "
        "reference text, and answer it yourself. Avoid questions whose answer changes often.",
    ),
    CategorySpec(
        "closed_qa",
        "Closed QA",
        True,
        1500,
        "Paste a short reference text (a paragraph from a document you may share) and write a "
        "question whose answer is found in that text, then answer it from the text alone.",
    ),
    CategorySpec(
        "information_extraction",
        "Information extraction",
        True,
        1500,
        "Paste a reference text and ask for specific facts to be pulled out of it (names, "
        "dates, amounts, a list of entities). Write the extracted answer.",
    ),
    CategorySpec(
        "summarization",
        "Summarization",
        True,
        1500,
        "Paste a passage and ask for a summary of it. Write a summary that is clearly shorter "
        "than the passage and keeps its main points.",
        min_response_chars=20,
    ),
    CategorySpec(
        "brainstorming",
        "Brainstorming",
        False,
        1500,
        "Ask for a list of ideas on a topic (ways to do something, names, plans). Answer with "
        "several distinct ideas.",
        min_response_chars=20,
    ),
    CategorySpec(
        "classification",
        "Classification",
        False,
        1500,
        "Ask to sort items into classes, or to judge the class of something (sentiment, "
        "type, yes/no). Give the labels and the answer.",
    ),
    CategorySpec(
        "creative_writing",
        "Creative writing",
        False,
        1500,
        "Ask for an original piece: a poem, a story, a letter, a speech. Give enough "
        "constraints to make it interesting, and write the piece.",
        min_response_chars=40,
    ),
    CategorySpec(
        "general_qa",
        "General QA",
        False,
        1500,
        "Ask a question that needs a longer, open answer (an explanation, an opinion, advice) "
        "and write a helpful, accurate answer in your own words.",
        min_response_chars=20,
    ),
)


def seed_default_categories(session: Session) -> int:
    """Insert the default categories that are missing; return how many were added."""
    existing = set(session.scalars(select(Category.slug)))
    added = 0
    for order, spec in enumerate(DEFAULT_CATEGORIES):
        if spec.slug in existing:
            continue
        cat = Category(
            slug=spec.slug,
            name=spec.name,
            guideline=spec.guideline,
            needs_context=spec.needs_context,
            target=spec.target,
            min_response_chars=spec.min_response_chars,
            sort_order=order,
            guideline_version=1,
        )
        session.add(cat)
        session.flush()
        session.add(
            CategoryGuideline(category_id=cat.id, version=1, text=spec.guideline, changed_by="seed")
        )
        added += 1
    session.flush()
    return added


def list_categories(session: Session, *, active_only: bool = False) -> list[Category]:
    """All categories in display order."""
    stmt = select(Category).order_by(Category.sort_order, Category.id)
    if active_only:
        stmt = stmt.where(Category.active.is_(True))
    return list(session.scalars(stmt))


def get_category(session: Session, slug: str) -> Category:
    """The category with this slug, or a NotFound naming the known slugs."""
    cat = session.scalar(select(Category).where(Category.slug == slug))
    if cat is None:
        known = ", ".join(c.slug for c in list_categories(session))
        raise NotFound(f"unknown category {slug!r}; known categories: {known}")
    return cat


def set_target(session: Session, slug: str, target: int) -> Category:
    """Set how many approved examples a category should reach."""
    if target < 0:
        raise ValidationFailed({"target": "the target must be zero or more"})
    cat = get_category(session, slug)
    cat.target = target
    session.flush()
    return cat
