"""The write modal's suggested category is counted at most once per TTL."""

from __future__ import annotations

from bot.slack.handlers.common import SuggestedCategory
from store.categories import DEFAULT_CATEGORIES, set_target
from tests.dbs import TestDatabase


def test_suggestion_is_reused_within_its_ttl_and_recounted_after(db: TestDatabase) -> None:
    with db.session() as s:
        set_target(s, "summarization", 5000)
        cached, fresh = SuggestedCategory(ttl=3600), SuggestedCategory(ttl=0)
        assert cached.slug(s) == fresh.slug(s) == "summarization"
        set_target(s, "brainstorming", 9000)
        assert cached.slug(s) == "summarization"  # within its TTL: not counted again
        assert fresh.slug(s) == "brainstorming"


def test_no_suggestion_when_every_target_is_met(db: TestDatabase) -> None:
    with db.session() as s:
        for spec in DEFAULT_CATEGORIES:
            set_target(s, spec.slug, 0)
        assert SuggestedCategory(ttl=0).slug(s) is None
