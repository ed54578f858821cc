"""Signed requests with wrongly typed fields, forged buttons, long commands, replies after
the commit, and a locked database under a modal: words and one log line, never a traceback."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, func, select

from bot.slack.standin.web_api import SlackDouble
from store.db import BUSY_MESSAGE, SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS, make_engine
from store.enums import ExampleStatus, Origin, Verdict
from store.models import Category, Example
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_fixtures import all_text, blocks_of, double, slack
from tests.slack_requests import (
    SlackApp,
    click_payload,
    command_fields,
    fill,
    opened_view,
    settings_for,
)

__all__ = ["double", "slack"]  # fixtures

FORM = "application/x-www-form-urlencoded"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _replies(slack: SlackApp) -> list[str]:
    return [
        str(c.args.get("text", "")) + "\n" + all_text(blocks_of(c.args))
        for c in slack.double.calls
        if c.method.startswith("response_url:") or c.method == "chat.postMessage"
    ]


def _pending(slack: SlackApp) -> int:
    with slack.db.session() as s:
        return example(s, person(s, "UALICE")).id


def _click(slack: SlackApp, action: str, value: Any, **changes: Any) -> dict[str, Any]:
    payload = click_payload(slack.double, "UBOB", action, value if isinstance(value, str) else "")
    if not isinstance(value, str):
        payload["actions"][0]["value"] = value
    payload.update(changes)
    return payload


BAD_VALUES: dict[str, Any] = {
    "value_not_json": "{not json",
    "id_abc": json.dumps({"id": "abc", "skip": []}),
    "id_null": json.dumps({"id": None}),
    "id_huge": json.dumps({"id": 10**30}),
    "id_negative": json.dumps({"id": -4}),
    "skip_not_a_list": json.dumps({"id": 1, "skip": "all"}),
    "value_a_list": [1, 2],
    "value_an_object": {"id": 1},
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
@pytest.mark.parametrize("action", ["review_approve", "review_edit", "verify_skip"])
def test_a_wrongly_typed_button_gets_a_polite_reply_and_one_line(
    slack: SlackApp, caplog: pytest.LogCaptureFixture, name: str, action: str
) -> None:
    _pending(slack)
    with caplog.at_level(logging.INFO):
        reply = slack.interact(_click(slack, action, BAD_VALUES[name]))
        slack.settle()
    assert reply.status == 200
    assert not _tracebacks(caplog)
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    assert any("could not be read" in r for r in _replies(slack)), _replies(slack)
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 1


def test_a_rating_that_is_not_one_to_five_is_refused_politely(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    example_id = _pending(slack)
    payload = click_payload(
        slack.double, "UBOB", "review_approve", json.dumps({"id": example_id, "skip": []}), rating=3
    )
    payload["state"]["values"]["rating"]["review_rate"]["selected_option"]["value"] = "zz"
    with caplog.at_level(logging.INFO):
        assert slack.interact(payload).status == 200
        slack.settle()
    assert not _tracebacks(caplog) and len(_warnings(caplog)) == 1
    assert any("could not be read" in r for r in _replies(slack))
    with slack.db.session() as s:
        assert s.get(Example, example_id).review_count == 0  # type: ignore[union-attr]


def test_message_state_a_string_is_refused_politely(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    example_id = _pending(slack)
    value = json.dumps({"id": example_id, "skip": []})
    with caplog.at_level(logging.INFO):
        assert slack.interact(_click(slack, "review_approve", value, state="junk")).status == 200
        slack.settle()
    assert not _tracebacks(caplog) and len(_warnings(caplog)) == 1
    assert any("could not be read" in r for r in _replies(slack))


def test_a_command_without_user_id_gets_a_polite_reply(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    form = command_fields(slack.double, "UBOB", "review")
    del form["user_id"]
    with caplog.at_level(logging.INFO):
        assert slack.send(urlencode(form).encode(), FORM).status == 200
        slack.settle()
    assert not _tracebacks(caplog) and len(_warnings(caplog)) == 1
    assert any("could not be read" in r for r in _replies(slack))


def test_app_home_opened_without_a_user_is_one_line(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert slack.event({"type": "app_home_opened", "tab": "home"}).status == 200
        slack.settle()
    assert not _tracebacks(caplog) and len(_warnings(caplog)) == 1
    assert not slack.double.calls_to("views.publish")


@pytest.mark.parametrize(
    "metadata", ["garbage{", json.dumps({"mode": "hack"}), json.dumps({"example_id": "x"}), "[]"]
)
def test_garbage_private_metadata_is_a_field_error_on_the_form(
    slack: SlackApp, caplog: pytest.LogCaptureFixture, metadata: str
) -> None:
    slack.command("UBOB", "write open_qa")
    view = fill(
        opened_view(slack.double.wait_for("views.open")[0].args),
        instruction="What should a new employee read in their first week?",
        response="The handbook, the security policy and the onboarding page.",
    )
    view["private_metadata"] = metadata
    view["callback_id"] = "edit_submit"
    with caplog.at_level(logging.INFO):
        reply = slack.submit("UBOB", view)
        slack.settle()
    assert reply.status == 200
    errors = reply.json()["errors"]
    assert "could not be read" in " ".join(errors.values())
    assert not _tracebacks(caplog) and len(_warnings(caplog)) == 1
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 0


def test_a_huge_command_is_refused_before_it_is_split(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    # Quoted words are what makes shlex slow: a megabyte of them took 13.5 s of CPU.
    text = "write " + '"a b" ' * 15_000
    form = command_fields(slack.double, "UBOB", text)
    started = time.process_time()
    with caplog.at_level(logging.INFO):
        assert slack.send(urlencode(form).encode(), FORM).status == 200
        slack.settle()
    cpu = time.process_time() - started
    assert any("too long" in r for r in _replies(slack)), _replies(slack)
    assert not _tracebacks(caplog)
    assert not slack.double.calls_to("views.open")
    print(f"CPU for a {len(text):,}-character command: {cpu:.3f} s")


def test_targets_set_replies_after_its_commit(slack: SlackApp) -> None:
    seen: list[int] = []
    assert slack.command("UADMIN", "targets set open_qa 77").status == 200
    # The ack came back: the change is already visible to anyone reading the database.
    with slack.db.session() as s:
        seen.append(s.scalars(select(Category.target).where(Category.slug == "open_qa")).one())
    slack.settle()
    assert seen == [77]
    assert any("set to 77" in r for r in _replies(slack))


def _edit_click(slack: SlackApp, who: str, example_id: int, action: str) -> None:
    value = json.dumps({"id": example_id, "skip": []})
    slack.interact(click_payload(slack.double, who, action, value))
    slack.settle()


@pytest.mark.parametrize(
    ("case", "action", "said"),
    [
        ("rejected", "review_edit", "rejected"),
        ("approved", "review_edit", "approved"),
        ("own", "review_edit", "You wrote this example"),
        ("reviewed", "review_edit", "already reviewed"),
        ("draft_via_review", "review_edit", "verify it first"),
        ("pending_via_verify", "verify_edit", "not waiting for verification"),
        ("missing", "verify_edit", "does not exist"),
    ],
)
def test_a_forged_edit_button_shows_no_text(
    slack: SlackApp, caplog: pytest.LogCaptureFixture, case: str, action: str, said: str
) -> None:
    secret = "Personal detail that got this example rejected: 4111 1111 1111 1111 ok"
    with slack.db.session() as s:
        alice, bob = person(s, "UALICE"), person(s, "UBOB")
        status = ExampleStatus.DRAFT if case == "draft_via_review" else ExampleStatus.PENDING
        origin = Origin.LLM if case == "draft_via_review" else Origin.HUMAN
        ex = example(s, alice, status=status, origin=origin, response=secret)
        if case in ("rejected", "approved"):
            ex.status = ExampleStatus(case)
        if case == "reviewed":
            record_review(
                s, example_id=ex.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Quorum(5, 5)
            )
        example_id = ex.id + 100 if case == "missing" else ex.id
    who = "UALICE" if case == "own" else "UBOB"
    with caplog.at_level(logging.INFO):
        _edit_click(slack, who, example_id, action)
    assert not slack.double.calls_to("views.open")
    assert not any(secret[:30] in t for t in slack.double.posted_texts())
    assert any(said in r for r in _replies(slack)), _replies(slack)
    assert not _tracebacks(caplog)


def test_a_genuine_edit_button_still_opens_the_text(slack: SlackApp) -> None:
    with slack.db.session() as s:
        ex = example(s, person(s, "UALICE"), response="The full text to edit is shown here.")
    _edit_click(slack, "UBOB", ex.id, "review_edit")
    view = opened_view(slack.double.wait_for("views.open")[0].args)
    assert "The full text to edit is shown here." in json.dumps(view)


@pytest.fixture
def interactive(db: TestDatabase, double: SlackDouble) -> Iterator[SlackApp]:
    """The app with the engine `crowdtune serve` builds: SQLite lock waits of at most 2 s."""
    if db.kind != "sqlite":
        pytest.skip("SQLite's file lock")
    double.reset()
    engine = make_engine(db.url, busy_timeout_ms=SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS)
    app = SlackApp(db, double, settings_for(db.url, double), engine=engine)
    try:
        yield app
    finally:
        app.close()
        engine.dispose()


def test_a_locked_sqlite_file_answers_the_form_with_busy_and_keeps_the_text(
    interactive: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    slack = interactive
    slack.command("UBOB", "write open_qa")
    typed = "What should a new employee read in their first week, and why?"
    view = fill(
        opened_view(slack.double.wait_for("views.open")[0].args),
        instruction=typed,
        response="The handbook, the security policy and the onboarding page.",
    )
    holder = create_engine(slack.db.url, connect_args={"isolation_level": None})
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        # Another process writing for a long time (an import, a migration).
        with holder.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            locked.set()
            release.wait(30)
            conn.exec_driver_sql("ROLLBACK")

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        with caplog.at_level(logging.INFO):
            reply = slack.submit("UBOB", view)
    finally:
        release.set()
        thread.join()
        holder.dispose()
    assert reply.status == 200
    body = reply.json()
    assert body["response_action"] == "errors"
    shown = " ".join(body["errors"].values())
    assert "the database is busy, submit again" in shown.lower()
    assert BUSY_MESSAGE.split(" (")[0] in shown  # the words store.db gives
    assert not _tracebacks(caplog)
    # The person's text is still in the form (errors keep it); submitting again works.
    assert slack.submit("UBOB", view).json() is None
    with slack.db.session() as s:
        assert s.scalars(select(Example.instruction)).one() == typed
