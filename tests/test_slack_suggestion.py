"""The write modal's suggested category is counted at most once per TTL."""

from __future__ import annotations

from sqlalchemy import event

from bot.slack.handlers.common import SuggestedCategory
from store.categories import DEFAULT_CATEGORIES, set_target
from tests.dbs import TestDatabase
from tests.slack_fixtures import double, slack
from tests.slack_requests import SlackApp, opened_view

__all__ = ["double", "slack"]  # fixtures


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


def test_the_write_modal_counts_nothing_again_once_every_target_is_met(slack: SlackApp) -> None:
    with slack.db.session() as s:
        for spec in DEFAULT_CATEGORIES:
            set_target(s, spec.slug, 0)
    statements: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    # The modal is built in a read-only transaction (its own engine on SQLite).
    engines = {slack.db.engine, slack.runtime.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        for n in range(3):
            assert slack.command("UALICE", "write").status == 200
            slack.double.wait_for("views.open", n + 1)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    counts = [st for st in statements if "count(" in st.lower() and "examples" in st.lower()]
    assert len(counts) == 1, counts  # the first modal counts; the next two reuse "none needed"
    first = opened_view(slack.double.calls_to("views.open")[-1].args)
    assert first["blocks"][0]["element"]["initial_option"]["value"] == DEFAULT_CATEGORIES[0].slug
