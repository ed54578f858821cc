"""Everything that lists categories shows the company's own, and leaves retired ones out."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.scheduler.digest import collect, render_chart, render_text
from bot.slack.views.home import home_view
from bot.slack.views.text import stats_text
from bot.slack.views.write import write_modal
from store.catalogue import CategoryFields, add_category, set_active
from store.categories import get_category, list_categories
from store.stats import PersonalCounts, category_counts
from tests.dbs import TestDatabase
from tests.slack_fixtures import all_text

SUPPORT = CategoryFields(
    name="Customer support",
    guideline="Write what a customer asks our support team and the answer an agent gives.",
    needs_context=False,
    target=300,
    domain="Support",
)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _listings(db: TestDatabase) -> dict[str, str]:
    with db.session() as s:
        counts = category_counts(s)
        active = list_categories(s, active_only=True)
        digest = collect(s, now=NOW)
        home = home_view(PersonalCounts(0, 0, 0, 0), counts, [])
        modal = write_modal(active, active[0])
        assert render_chart(digest).startswith(b"\x89PNG")
        return {
            "stats": stats_text(counts),
            "home": all_text(home["blocks"]),
            "home options": " ".join(
                o["value"]
                for b in home["blocks"]
                if b.get("block_id") == "interests"
                for o in b["accessory"]["options"]
            ),
            "write modal": " ".join(o["value"] for o in modal["blocks"][0]["element"]["options"]),
            "digest": render_text(digest),
            "digest chart": " ".join(c.slug for c in digest.categories),
        }


def test_company_categories_are_listed_everywhere_and_retired_ones_nowhere(
    db: TestDatabase,
) -> None:
    with db.session() as s:
        add_category(s, "customer_support", SUPPORT)
    shown = _listings(db)
    for where, text in shown.items():
        assert "Customer support" in text or "customer_support" in text, where
        assert "Open QA" in text or "open_qa" in text, where
    with db.session() as s:
        set_active(s, "customer_support", False)
    for where, text in _listings(db).items():
        assert "Customer support" not in text and "customer_support" not in text, where


def test_the_write_modal_shows_the_domain_with_the_guideline(db: TestDatabase) -> None:
    with db.session() as s:
        cat = add_category(s, "customer_support", SUPPORT)
        modal = write_modal([cat], cat)
        guideline = next(b for b in modal["blocks"] if b.get("block_id") == "guideline")
        assert "Domain: Support" in guideline["text"]["text"]
        assert "Domain" not in all_text(write_modal([cat], get_category(s, "open_qa"))["blocks"])
