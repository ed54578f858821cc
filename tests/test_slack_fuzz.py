"""Fuzzing the Slack endpoint: signed random and mutated payloads of every kind the app
handles. Whatever arrives, the answer is 200, 400 or 401, nothing logs a traceback, /healthz
still answers, and the database holds only rows that the rules allow."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.slack.standin.web_api import TEAM_ID, SlackDouble
from store.enums import ExampleStatus, Origin
from store.models import Category, Example, Review
from store.validation import MAX_FIELD_CHARS, unstorable
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_requests import (
    SlackApp,
    click_payload,
    command_fields,
    get,
    settings_for,
)

FORM = "application/x-www-form-urlencoded"
BUTTONS = [
    "review_approve",
    "review_edit",
    "review_reject",
    "review_skip",
    "verify_ok",
    "verify_edit",
    "verify_reject",
    "verify_skip",
    "review_rate",
    "open_write",
    "open_review",
    "snooze",
    "write_category",
    "open_write_conversation",
]
# Controls inside the write modal (a click there carries the modal and its state).
MODAL_CONTROLS = ["turn_add", "turn_remove", "write_kind", "write_category"]
SUBCOMMANDS = [
    "",
    "help",
    "write",
    "write open_qa",
    "write conversation general_qa",
    "review",
    "stats",
    "leaderboard",
    "optout",
    "optin",
    "targets",
    "targets set open_qa 10",
    "export",
    "write nope",
]


@pytest.fixture(scope="module")
def fuzz_double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def fuzz_app(
    db: TestDatabase, fuzz_double: SlackDouble
) -> Iterator[tuple[SlackApp, dict[str, int]]]:
    fuzz_double.reset()
    app = SlackApp(db, fuzz_double, settings_for(db.url, fuzz_double, admin_user_ids="UADMIN"))
    with db.session() as s:
        alice = person(s, "UALICE")
        ids = {
            "pending": example(s, alice).id,
            "draft": example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM).id,
            "rejected": example(s, alice, status=ExampleStatus.REJECTED).id,
        }
    try:
        yield app, ids
    finally:
        app.close()


# Values that Slack never puts where we read ids, texts and objects.
junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["abc", "", "\x00", "\ud800", "<!channel>", "{", "[]", "null", "10" * 20]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _modal(callback: str, meta: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    blocks = [
        {
            "type": "input",
            "block_id": name,
            "element": {"type": "plain_text_input", "action_id": name},
        }
        for name in fields
    ]
    values = {name: {name: {"type": "plain_text_input", "value": v}} for name, v in fields.items()}
    return {
        "id": "V0FUZZ",
        "type": "modal",
        "callback_id": callback,
        "private_metadata": json.dumps(meta),
        "blocks": blocks,
        "state": {"values": values},
    }


def _bases(double: SlackDouble, ids: dict[str, int]) -> list[Callable[[Any], tuple[str, Any]]]:
    """Builders of well-formed requests of every kind; each takes a drawn example id."""
    texts = {
        "instruction": "What should a new employee read in their first week here?",
        "response": "The handbook, the security policy and the onboarding page.",
    }

    def command(n: Any) -> tuple[str, Any]:
        return "form", command_fields(double, "UBOB", SUBCOMMANDS[n % len(SUBCOMMANDS)])

    def click(n: Any) -> tuple[str, Any]:
        action = BUTTONS[n % len(BUTTONS)]
        value = json.dumps({"id": list(ids.values())[n % len(ids)], "skip": []})
        return "payload", click_payload(double, "UBOB", action, value, rating=1 + n % 5)

    def write_submit(n: Any) -> tuple[str, Any]:
        view = _modal("write_submit", {"mode": "write", "category": "open_qa"}, texts)
        return "payload", {
            "type": "view_submission",
            "team": {"id": TEAM_ID},
            "user": {"id": "UBOB", "team_id": TEAM_ID},
            "view": view,
        }

    conversation = {"mode": "write", "category": "open_qa", "kind": "conversation"}
    turns = {"turn_0": texts["instruction"], "turn_1": texts["response"]}

    def conversation_submit(n: Any) -> tuple[str, Any]:
        view = _modal("write_submit", conversation, turns)
        return "payload", {
            "type": "view_submission",
            "team": {"id": TEAM_ID},
            "user": {"id": "UBOB", "team_id": TEAM_ID},
            "view": view,
        }

    def modal_click(n: Any) -> tuple[str, Any]:
        action = MODAL_CONTROLS[n % len(MODAL_CONTROLS)]
        view = _modal("write_submit", conversation, turns)
        payload = click_payload(double, "UBOB", action, view=view)
        payload["actions"][0]["selected_option"] = {"value": "conversation" if n % 2 else "pair"}
        return "payload", payload

    def edit_submit(n: Any) -> tuple[str, Any]:
        mode = "verify" if n % 2 else "review"
        target = ids["draft"] if n % 2 else ids["pending"]
        view = _modal("edit_submit", {"mode": mode, "example_id": target}, texts)
        return "payload", {
            "type": "view_submission",
            "team": {"id": TEAM_ID},
            "user": {"id": "UBOB", "team_id": TEAM_ID},
            "view": view,
        }

    def reject_submit(n: Any) -> tuple[str, Any]:
        view = _modal(
            "reject_submit",
            {"mode": "review", "example_id": ids["pending"]},
            {"reason": "Not correct."},
        )
        return "payload", {
            "type": "view_submission",
            "team": {"id": TEAM_ID},
            "user": {"id": "UBOB", "team_id": TEAM_ID},
            "view": view,
        }

    def home(n: Any) -> tuple[str, Any]:
        return "event", {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "event_id": f"EvFUZZ{time.monotonic_ns()}",
            "event": {"type": "app_home_opened", "user": "UBOB", "tab": "home"},
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True}],
        }

    return [
        command,
        click,
        write_submit,
        conversation_submit,
        modal_click,
        edit_submit,
        reject_submit,
        home,
    ]


def _mutate(doc: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Replace, drop or keep parts of `doc`, chosen by hypothesis."""
    if isinstance(doc, dict) and doc and depth < 6:
        out = dict(doc)
        for key in data.draw(st.lists(st.sampled_from(sorted(out)), max_size=2, unique=True)):
            action = data.draw(st.sampled_from(["junk", "drop", "descend"]))
            if action == "junk":
                out[key] = data.draw(junk)
            elif action == "drop":
                del out[key]
            else:
                out[key] = _mutate(out[key], data, depth + 1)
        return out
    if isinstance(doc, list) and doc and depth < 6:
        i = data.draw(st.integers(0, len(doc) - 1))
        return [*doc[:i], _mutate(doc[i], data, depth + 1), *doc[i + 1 :]]
    if isinstance(doc, str) and data.draw(st.booleans()):
        return data.draw(junk)
    return doc


def _encode(kind: str, doc: Any) -> tuple[bytes, str]:
    if kind == "form":
        fields = doc if isinstance(doc, dict) else {"junk": doc}
        pairs = {str(k): str(v) for k, v in fields.items()}
        # Lone surrogates become bytes that are not UTF-8, as a broken client would send.
        return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode(), FORM
    if kind == "payload":
        return urlencode({"payload": json.dumps(doc)}).encode(), FORM
    return json.dumps(doc).encode(), "application/json"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()[:200] for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()
    ]


def _settle(app: SlackApp) -> None:
    """Wait until the work after every ack so far has run (its errors are logged by then)."""
    app.settle()


def _assert_valid_rows(db: TestDatabase) -> None:
    with db.session() as s:
        maxima = {c.id: c.max_field_chars for c in s.scalars(select(Category))}
        for ex in s.scalars(select(Example)):
            limit = (
                maxima[ex.category_id]
                if ex.origin in (Origin.HUMAN, Origin.LLM)
                else MAX_FIELD_CHARS
            )
            for value in (ex.instruction, ex.context, ex.response):
                assert unstorable(value) is None and len(value) <= limit, ex.id
            assert ex.instruction.strip() and ex.response.strip()
            for turn in ex.turns:  # a conversation's every turn meets the same rules
                assert turn.text.strip() and unstorable(turn.text) is None, ex.id
                assert len(turn.text) <= limit, ex.id
        for review in s.scalars(select(Review)):
            assert review.rating is None or 1 <= review.rating <= 5
            assert review.reason is None or unstorable(review.reason) is None
            author = s.get(Example, review.example_id)
            assert author is not None and author.author_id != review.reviewer_id


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_signed_mutated_payloads_never_break_the_app(
    fuzz_app: tuple[SlackApp, dict[str, int]],
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    app, ids = fuzz_app
    bases = _bases(app.double, ids)
    build = data.draw(st.sampled_from(bases))
    kind, doc = build(data.draw(st.integers(0, 10**6)))
    doc = _mutate(doc, data)
    body, content_type = _encode(kind, doc)
    with caplog.at_level(logging.WARNING):
        reply = app.send(body, content_type)
        _settle(app)
    assert reply.status in (200, 400, 401), (reply, body[:300])
    assert not _tracebacks(caplog), body[:300]
    caplog.clear()
    assert get(app.url + "/healthz").status == 200
    _assert_valid_rows(app.db)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=400)
    | st.text(max_size=300).map(str.encode)
    | st.builds(lambda v: urlencode({"payload": json.dumps(v)}).encode(), junk),
    content_type=st.sampled_from([FORM, "application/json", "text/plain", ""]),
    signed=st.booleans(),
)
def test_signed_random_bodies_never_break_the_app(
    fuzz_app: tuple[SlackApp, dict[str, int]],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    signed: bool,
) -> None:
    app, _ = fuzz_app
    headers = {} if signed else {"X-Slack-Request-Timestamp": str(int(time.time()))}
    with caplog.at_level(logging.WARNING):
        reply = app.send(body, content_type, signed=signed, **headers)
        _settle(app)
    assert reply.status in (200, 400, 401), (reply, body[:300])
    assert not _tracebacks(caplog), body[:300]
    caplog.clear()
    assert get(app.url + "/healthz").status == 200
    _assert_valid_rows(app.db)
