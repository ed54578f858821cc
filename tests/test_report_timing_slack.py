"""Slack flows record when a task was put in front of a person (signed requests, Slack double)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.slack.standin.web_api import SlackDouble
from store.enums import ExampleStatus, Origin
from store.models import Example, Review
from tests.factories import example, person
from tests.slack_fixtures import blocks_of, button_value, double, slack
from tests.slack_requests import SlackApp, fill, opened_view

__all__ = ["double", "slack"]  # fixtures


def _replies(d: SlackDouble) -> int:
    return sum(c.method.startswith("response_url:") for c in d.calls)


def _wait_reply(d: SlackDouble, count: int) -> dict[str, Any]:
    with d._lock:
        ok = d._lock.wait_for(lambda: _replies(d) >= count, timeout=10)
    assert ok, d.methods()
    return [c for c in d.calls if c.method.startswith("response_url:")][-1].args


def _review_blocks(slack: SlackApp, user: str) -> list[dict[str, Any]]:
    n = _replies(slack.double)
    assert slack.command(user, "review").status == 200
    return blocks_of(_wait_reply(slack.double, n + 1))


def _started(view: dict[str, Any]) -> float:
    return float(json.loads(view["private_metadata"])["started"])


def test_write_modal_opening_is_recorded_with_the_example(slack: SlackApp) -> None:
    assert slack.command("UALICE", "write open_qa").status == 200
    view = opened_view(slack.double.wait_for("views.open")[-1].args)
    opened = _started(view)
    # Switching category re-renders the modal: the opening time stays the first one.
    assert (
        slack.select(
            "UALICE", fill(view, category="brainstorming"), "write_category", "brainstorming"
        ).status
        == 200
    )
    updated = slack.double.wait_for("views.update")[-1].args["view"]
    updated = json.loads(updated) if isinstance(updated, str) else updated
    assert _started(updated) == opened
    posts = len(slack.double.calls_to("chat.postMessage"))
    reply = slack.submit(
        "UALICE",
        fill(
            {**view, "private_metadata": updated["private_metadata"]},
            instruction="Suggest five names for a team offsite in the mountains.",
            response="Summit Sync, Peak Week, Base Camp, Ridge Retreat, Altitude Days.",
        ),
    )
    assert reply.status == 200 and not reply.body.strip()
    slack.double.wait_for("chat.postMessage", posts + 1)
    with slack.db.session() as s:
        ex = s.scalars(select(Example)).one()
        assert ex.write_started_at is not None
        assert ex.write_started_at.timestamp() == pytest.approx(opened, abs=1e-3)
        assert ex.write_started_at <= ex.created_at


def test_review_shown_time_reaches_the_review_by_button_and_by_modal(slack: SlackApp) -> None:
    with slack.db.session() as s:
        alice = person(s, "UALICE")
        first, second = example(s, alice), example(s, alice)
        ids = {first.id, second.id}
    blocks = _review_blocks(slack, "UBOB")
    value = button_value(blocks, "review_approve")
    shown = json.loads(value)["t"]
    n = _replies(slack.double)
    assert slack.click("UBOB", "review_approve", value, rating=5).status == 200
    after = blocks_of(_wait_reply(slack.double, n + 1))
    # The next example came with a new shown time; reject it through the modal.
    reject_value = button_value(after, "review_reject")
    shown_next = json.loads(reject_value)["t"]
    assert slack.click("UBOB", "review_reject", reject_value).status == 200
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    assert _started(modal) == shown_next
    n = _replies(slack.double)
    assert not slack.submit("UBOB", fill(modal, reason="Too vague.")).body.strip()
    _wait_reply(slack.double, n + 1)
    with slack.db.session() as s:
        reviews = {r.example_id: r for r in s.scalars(select(Review))}
    assert set(reviews) == ids
    approved = reviews[json.loads(value)["id"]]
    rejected = reviews[json.loads(reject_value)["id"]]
    assert approved.rating == 5 and approved.shown_at is not None
    assert approved.shown_at.timestamp() == pytest.approx(shown, abs=1e-3)
    assert rejected.shown_at is not None
    assert rejected.shown_at.timestamp() == pytest.approx(shown_next, abs=1e-3)
    assert approved.shown_at <= approved.created_at and rejected.shown_at <= rejected.created_at


def test_verifying_a_draft_records_when_it_was_shown(slack: SlackApp) -> None:
    with slack.db.session() as s:
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        draft_id = draft.id
    blocks = _review_blocks(slack, "UBOB")
    value = button_value(blocks, "verify_ok")
    n = _replies(slack.double)
    assert slack.click("UBOB", "verify_ok", value).status == 200
    _wait_reply(slack.double, n + 1)
    with slack.db.session() as s:
        review = s.scalars(select(Review).where(Review.example_id == draft_id)).one()
    assert review.shown_at is not None
    assert review.shown_at.timestamp() == pytest.approx(json.loads(value)["t"], abs=1e-3)
