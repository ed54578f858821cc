"""The HTTP endpoint under junk: 401 before parsing, 400 for signed bodies Slack never sends,
one log line at most per request, and /healthz answering within its deadline."""

from __future__ import annotations

import json
import logging
import threading
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, text

from bot.slack.wsgi import HealthCheck
from tests.slack_fixtures import double, slack
from tests.slack_requests import SlackApp, command_fields, get

__all__ = ["double", "slack"]  # fixtures

FORM = "application/x-www-form-urlencoded"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


UNSIGNED_JUNK = [
    b"\xff\xfe\x00garbage",
    b"payload=%7B%22type%22",
    b"payload=" + b"%5B" * 5000,
    b"{" * 10_000,
    b"",
    b"command=/crowdtune&text=" + b"x" * 50_000,
]


def test_unsigned_junk_is_refused_before_parsing_and_logs_nothing(
    slack: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    now = str(int(time.time()))
    with caplog.at_level(logging.DEBUG):
        for i in range(200):
            body = UNSIGNED_JUNK[i % len(UNSIGNED_JUNK)]
            headers = {"X-Slack-Request-Timestamp": now}
            if i % 2:
                headers["X-Slack-Signature"] = "v0=" + "0" * 64
            reply = slack.send(body, "application/json" if i % 3 else FORM, signed=False, **headers)
            assert reply.status == 401, (i, reply)
    app_records = [r for r in caplog.records if r.name.startswith(("bot", "slack_bolt", "store"))]
    assert app_records == []
    assert not slack.double.calls


def _payload(body: object) -> bytes:
    return urlencode({"payload": body if isinstance(body, str) else json.dumps(body)}).encode()


SIGNED_MALFORMED = {
    "truncated_payload": (b"payload=%7B%22type%22%3A%22block_ac", FORM),
    "payload_not_json": (_payload("not json at all"), FORM),
    "payload_list": (_payload([]), FORM),
    "payload_null": (_payload(None), FORM),
    "payload_string": (_payload('"block_actions"'), FORM),
    "payload_unknown_type": (_payload({"type": "hack"}), FORM),
    "invalid_utf8": (b"payload=\xff\xfe", FORM),
    "invalid_utf8_json": (b'{"type": "event_callback", "x": "\xff"}', "application/json"),
    "nested_deep_json": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "nested_deep_payload": (b"payload=" + b"%5B" * 100_000, FORM),
    "actions_not_a_list": (_payload({"type": "block_actions", "actions": "approve"}), FORM),
    "actions_of_strings": (_payload({"type": "block_actions", "actions": ["x"]}), FORM),
    "view_not_an_object": (_payload({"type": "view_submission", "view": "v"}), FORM),
    "response_url_a_number": (
        _payload(
            {
                "type": "block_actions",
                "trigger_id": "t",
                "container": {"type": "message"},
                "response_url": 7,
                "actions": [{"action_id": "review_approve", "value": "{}"}],
            }
        ),
        FORM,
    ),
    "event_not_an_object": (
        json.dumps({"type": "event_callback", "event": ["app_home_opened"]}).encode(),
        "application/json",
    ),
    "event_without_type": (
        json.dumps({"type": "event_callback", "event": {"user": "U1"}}).encode(),
        "application/json",
    ),
    "envelope_a_list": (b"[1, 2]", "application/json"),
    "form_of_nothing": (b"a=1&b=2", FORM),
    "not_a_form": (b"just some words", FORM),
}


@pytest.mark.parametrize("name", sorted(SIGNED_MALFORMED))
def test_signed_malformed_bodies_get_400_and_one_line(
    slack: SlackApp, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    body, content_type = SIGNED_MALFORMED[name]
    with caplog.at_level(logging.INFO):
        reply = slack.send(body, content_type)
    assert reply.status == 400
    assert not _tracebacks(caplog)
    ours = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(ours) == 1 and len(ours[0].getMessage()) < 300
    assert get(slack.url + "/healthz").status == 200
    assert not slack.double.calls


def test_healthz_answers_503_within_its_deadline_when_the_check_hangs() -> None:
    release = threading.Event()
    health = HealthCheck(lambda: release.wait(30) and None, deadline=0.2)
    try:
        assert health.problem() == "no answer within 0.2 s"
        # A second probe does not start a second hanging check: it waits on the same one.
        assert health.problem() == "no answer within 0.2 s"
        release.set()
        assert health.problem() is None
    finally:
        release.set()


def test_healthz_answers_while_another_process_holds_the_sqlite_lock(slack: SlackApp) -> None:
    if slack.db.kind != "sqlite":
        pytest.skip("SQLite's file lock")
    other = create_engine(slack.db.url, connect_args={"isolation_level": None})
    with other.connect() as conn:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
        conn.execute(text("UPDATE categories SET target = target + 1"))
        try:
            # WAL readers never wait for the writer: the check answers at once.
            assert get(slack.url + "/healthz").status == 200
        finally:
            conn.exec_driver_sql("ROLLBACK")
    other.dispose()


def test_signed_good_requests_still_work(slack: SlackApp) -> None:
    form = command_fields(slack.double, "U1", "help", response_url=slack.double.response_url("ok"))
    assert slack.send(urlencode(form).encode(), FORM).status == 200
    assert "Commands:" in str(slack.double.wait_for("response_url:ok")[0].args["text"])


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "help payload"},
        {"channel_name": "payload-eng"},
        {"text": "help", "user_name": "payloader"},
    ],
)
def test_a_command_mentioning_the_word_payload_is_answered(
    slack: SlackApp, fields: dict[str, str]
) -> None:
    # Bolt guesses "interactivity payload" from the substring alone; the gate keeps it a command.
    form = command_fields(slack.double, "U1", "help", response_url=slack.double.response_url("pl"))
    form.update(fields)
    assert slack.send(urlencode(form).encode(), FORM).status == 200
    assert "Commands:" in str(slack.double.wait_for("response_url:pl")[0].args["text"])
