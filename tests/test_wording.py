"""The category a capture's wording suggests (pre-selected in its modal)."""

from __future__ import annotations

import pytest

from store.categories import list_categories
from store.wording import category_by_wording
from tests.dbs import TestDatabase


@pytest.mark.parametrize(
    ("instruction", "context", "slug"),
    [
        ("Can someone summarize this incident report for the execs?", "", "summarization"),
        ("Let's brainstorm ideas for the offsite agenda", "", "brainstorming"),
        ("Classify these tickets as bug, feature or question", "", "classification"),
        ("Write a poem about our on-call rotation", "", "creative_writing"),
        ("Extract every date mentioned in the contract", "", "information_extraction"),
        ("How do I reset my VPN password?", "", "open_qa"),
        ("What does the second paragraph say about refunds?", "Refunds are...", "closed_qa"),
        ("Thanks everyone", "", "general_qa"),
    ],
)
def test_wording_suggests_a_category(
    db: TestDatabase, instruction: str, context: str, slug: str
) -> None:
    with db.session() as s:
        found = category_by_wording(list_categories(s), instruction, context)
        assert found is not None and found.slug == slug


def test_only_active_categories_are_suggested(db: TestDatabase) -> None:
    with db.session() as s:
        cats = list_categories(s)
        for c in cats:
            c.active = c.slug == "open_qa"
        assert category_by_wording(cats, "Summarize this thread") is None
        found = category_by_wording(cats, "Why is the build red?")
        assert found is not None and found.slug == "open_qa"
