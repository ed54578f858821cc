"""Work goes to those who know the domain: nudges ask experts first, review serves them first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.nudges import NudgePolicy, plan_nudges, send_nudges
from bot.slack.client import build_client
from bot.slack.standin.web_api import SlackDouble
from store.catalogue import CategoryFields, Experts, add_category
from store.categories import get_category, list_categories
from store.enums import AssignmentKind
from store.experts import set_interests
from store.models import Assignment
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_requests import settings_for

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # a Tuesday afternoon in UTC
POLICY = NudgePolicy(quiet_start=18, quiet_end=9, daily_cap=1, review_backlog=1000)
EXPERTS = tuple(f"U0EXP{n:02d}" for n in range(1, 6))
OTHERS = tuple(f"U0P{n:02d}" for n in range(1, 46))
SUPPORT = CategoryFields(
    name="Customer support",
    guideline="Write what a customer asks our support team and the answer an agent gives.",
    needs_context=False,
    target=5,
    domain="Support",
)


@pytest.fixture(scope="module")
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


def _company(db: TestDatabase, experts: tuple[str, ...] = EXPERTS) -> None:
    """50 people (the 5 experts joined last), open QA 40 short, customer support 5 short."""
    with db.session() as s:
        for cat in list_categories(s):
            cat.target = 40 if cat.slug == "open_qa" else 0
        add_category(s, "customer_support", SUPPORT, experts=Experts(experts))
        for uid in (*OTHERS, *EXPERTS):
            person(s, uid)


def test_a_nudge_run_asks_the_experts_about_their_lagging_category_first(
    db: TestDatabase, double: SlackDouble
) -> None:
    double.reset()
    _company(db)
    for uid in (*OTHERS, *EXPERTS):
        double.add_user(uid)
    client = build_client(settings_for(db.url, double))
    report = send_nudges(db.sessions, client, now=NOW, policy=POLICY)

    assert len(report.sent) == 45  # 40 + 5 gaps: the last five people have nothing to ask
    first = [(n.slack_user_id, n.category_slug) for n in report.sent[:5]]
    assert first == [(uid, "customer_support") for uid in EXPERTS]
    assert {n.slack_user_id for n in report.sent if n.category_slug == "customer_support"} == set(
        EXPERTS
    )
    # The DMs went out in that order, and each says what it asks for.
    opened = [c.args["users"] for c in double.calls_to("conversations.open")]
    assert tuple(opened[:5]) == EXPERTS
    texts = [c.args["text"] for c in double.calls_to("chat.postMessage")[:5]]
    assert all("*Customer support*" in t for t in texts)
    with db.session() as s:
        support = get_category(s, "customer_support").id
        asked = s.scalars(
            select(Assignment).where(
                Assignment.kind == AssignmentKind.WRITE, Assignment.category_id == support
            )
        ).all()
        assert sorted(a.contributor.slack_user_id for a in asked) == list(EXPERTS)


def test_without_experts_the_same_run_follows_the_gaps_alone(db: TestDatabase) -> None:
    _company(db, experts=())
    with db.session() as s:
        report = plan_nudges(s, now=NOW, policy=POLICY)
    # Everyone in id order: the first 45 people take the 45 gaps, the last five get nothing.
    assert {n.slack_user_id for n in report.planned} == set(OTHERS)
    assert all(report.skipped[uid] == "nothing to ask" for uid in EXPERTS)


def test_interests_steer_a_nudge_toward_the_picked_category(db: TestDatabase) -> None:
    _company(db)
    with db.session() as s:
        get_category(s, "brainstorming").target = 30  # below open QA's 40 for everyone else
        set_interests(s, person(s, "U0P01"), ["brainstorming"])
        report = plan_nudges(s, now=NOW, policy=POLICY)
    by_person = {n.slack_user_id: n.category_slug for n in report.planned}
    assert by_person["U0P01"] == "brainstorming"  # 30 x 2 beats 40
    assert by_person["U0P02"] == "open_qa"


def test_review_nudges_and_reviews_serve_experts_their_domain_first(db: TestDatabase) -> None:
    _company(db)
    with db.session() as s:
        writer = person(s, "U0WRITER")
        for _ in range(8):
            example(s, writer)  # open QA examples, older: first in everyone else's queue
        support = example(s, writer, category="customer_support").id
        report = plan_nudges(
            s, now=NOW, policy=NudgePolicy(quiet_start=18, quiet_end=9, review_backlog=1)
        )
    reviews = {
        n.slack_user_id: n.example_id for n in report.planned if n.kind == AssignmentKind.REVIEW
    }
    assert reviews[EXPERTS[0]] == support  # the newest example, but the expert's domain
    assert reviews["U0P01"] != support and reviews["U0P01"] is not None
