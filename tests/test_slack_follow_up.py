"""What a person did is stored before the ack; when the message after it cannot be sent, the
failure is logged with the person and the action, and the next review or Home tab is right."""

from __future__ import annotations

import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bot.slack.standin.web_api import Call
from store.enums import AssignmentKind, AssignmentStatus
from store.models import Assignment, Example, Review
from store.types import utcnow
from tests.factories import example, person
from tests.slack_fixtures import all_text, blocks_of, button_value, double, slack
from tests.slack_requests import SlackApp, fill, opened_view

__all__ = ["double", "slack"]  # fixtures


def _dead_url() -> str:
    """A response_url nobody answers at (Slack down): a port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/response/gone"


def _calls_when(slack: SlackApp, prefix: str) -> list[Call]:
    """The double's calls whose method starts with `prefix`, once there is one."""
    double = slack.double
    with double._lock:
        assert double._lock.wait_for(
            lambda: any(c.method.startswith(prefix) for c in double.calls), timeout=10
        ), double.methods()
        return [c for c in double.calls if c.method.startswith(prefix)]


def test_a_reply_slack_cannot_take_is_logged_and_the_review_is_kept(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    with slack.db.session() as s:
        alice = person(s, "UALICE")
        first, second = example(s, alice).id, example(s, alice).id
    value = json.dumps({"id": first, "skip": []})
    caplog.set_level(logging.WARNING)
    assert slack.click("UBOB", "review_approve", value, response_url=_dead_url()).status == 200
    with slack.db.session() as s:  # committed before the ack, not after
        review = s.scalars(select(Review)).one()
        assert review.example_id == first
    slack.close()  # the follow-up has run (and failed) once this returns
    failed = [r.getMessage() for r in caplog.records if "follow-up" in r.getMessage()]
    assert len(failed) == 1, [r.getMessage() for r in caplog.records]
    assert "UBOB" in failed[0] and "review_approve" in failed[0] and str(first) in failed[0]
    assert "/crowdtune review" in failed[0]
    assert "Traceback" not in caplog.text

    # Bob carries on where he was: the next review is the next example, Home counts his review.
    again = SlackApp(slack.db, slack.double, slack.settings)
    try:
        assert again.command("UBOB", "review").status == 200
        name = next(c.method for c in _calls_when(again, "response_url:"))
        blocks = blocks_of(again.double.wait_for(name)[0].args)
        assert json.loads(button_value(blocks, "review_approve"))["id"] == second
        event = {"type": "app_home_opened", "user": "UBOB", "channel": "D1", "tab": "home"}
        assert again.event(event).status == 200
        home = opened_view(again.double.wait_for("views.publish")[0].args)
        assert "1 reviews given" in all_text(home["blocks"])
    finally:
        again.close()


def test_a_double_clicked_approve_from_two_threads_counts_once(slack: SlackApp) -> None:
    with slack.db.session() as s:
        example_id = example(s, person(s, "UALICE")).id
    value = json.dumps({"id": example_id, "skip": []})
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: slack.click("UBOB", "review_approve", value), range(4)))
    assert [r.status for r in replies] == [200] * 4
    slack.close()
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 1
        assert s.get_one(Example, example_id).review_count == 1
    texts = [str(c.args.get("text")) for c in _calls_when(slack, "response_url:")]
    assert sum("already reviewed" in t for t in texts) == 3


def test_a_modal_submitted_twice_stores_one_example(slack: SlackApp) -> None:
    assert slack.command("UALICE", "write open_qa").status == 200
    view = opened_view(slack.double.wait_for("views.open")[0].args)
    typed = fill(
        view,
        instruction="What is a good way to start learning to play the piano?",
        response="Start with ten minutes a day of scales and one simple piece you enjoy.",
    )
    assert not slack.submit("UALICE", typed).body.strip()
    assert not slack.submit("UALICE", typed).body.strip()  # the same view again: a repeat
    slack.close()
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 1
    assert len(slack.double.calls_to("chat.postMessage")) == 1  # one thank-you


def test_a_skip_is_stored_before_the_ack(slack: SlackApp) -> None:
    with slack.db.session() as s:
        bob = person(s, "UBOB")
        example_id = example(s, person(s, "UALICE")).id
        s.add(
            Assignment(
                contributor_id=bob.id,
                kind=AssignmentKind.REVIEW,
                example_id=example_id,
                created_at=utcnow(),
            )
        )
    value = json.dumps({"id": example_id, "skip": []})
    assert slack.click("UBOB", "review_skip", value, response_url=_dead_url()).status == 200
    with slack.db.session() as s:
        assignment = s.scalars(select(Assignment)).one()
        assert assignment.status == AssignmentStatus.SKIPPED and assignment.answered_at
    slack.close()
