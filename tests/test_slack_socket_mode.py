"""`crowdtune serve` in Socket Mode end to end: a real subprocess with an app token and no signing
secret, Slack's Web API double, a WebSocket double in Slack's place, and the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from bot.slack.standin.socket_mode import SocketConnection, SocketModeDouble
from bot.slack.standin.web_api import VALID_APP_TOKEN, VALID_TOKEN, SlackDouble
from bot.slack.views.review import button_value
from store.enums import Verdict
from store.models import Contributor, Review
from tests.conftest import REPO_ROOT
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_fixtures import all_text, blocks_of
from tests.slack_requests import click_payload, command_fields
from tests.test_slack_serve import SLACK_VARS

# Generous bounds for a loaded 2-CPU machine; passing tests never wait for them.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class SocketModeApp:
    """`crowdtune serve` running in Socket Mode, and the two doubles it talks to."""

    proc: subprocess.Popen[str]
    double: SlackDouble
    sockets: SocketModeDouble
    log: list[str] = field(default_factory=list)
    stopping: bool = False

    def connected(self) -> SocketConnection:
        """The app's WebSocket connection, once open; Slack's `hello` sent on it."""
        conn = self.sockets.wait_for_connection(timeout=START_TIMEOUT)
        conn.hello()
        return conn

    def terminate(self) -> None:
        """SIGTERM, as a platform stopping the process sends."""
        self.stopping = True
        self.proc.send_signal(signal.SIGTERM)

    def read_log(self) -> None:
        """Collect stderr until the process exits; an exit nobody asked for fails every wait."""
        assert self.proc.stderr is not None
        self.log.extend(self.proc.stderr)
        if not self.stopping:
            self.sockets.abort(f"crowdtune serve exited ({self.proc.wait()}):\n{''.join(self.log)}")


@pytest.fixture
def socket_mode(db: TestDatabase) -> Iterator[SocketModeApp]:
    """`crowdtune serve` with SLACK_APP_TOKEN and no SLACK_SIGNING_SECRET, in a subprocess."""
    # Slack pings its clients; pinging often also wakes slack_sdk's reader, which holds the lock
    # its close() needs for up to 3 s while it waits for a frame: SIGTERM then stops quickly.
    with SlackDouble() as double, SocketModeDouble(ping_every=0.1) as sockets:
        double.socket_mode_url = sockets.url
        env = {
            **{k: v for k, v in os.environ.items() if k not in SLACK_VARS},
            "DATABASE_URL": db.url,
            "SLACK_BOT_TOKEN": VALID_TOKEN,
            "SLACK_APP_TOKEN": VALID_APP_TOKEN,
            "SLACK_API_URL": double.api_url,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        app = SocketModeApp(proc, double, sockets)
        reader = threading.Thread(target=app.read_log, daemon=True)
        reader.start()
        try:
            yield app
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
            reader.join(10)
        assert not [line for line in app.log if "Traceback" in line], app.log


def _reply(app: SocketModeApp, name: str) -> str:
    """The text and block texts of the app's (first) post to the response_url `name`."""
    args = app.double.wait_for(f"response_url:{name}")[0].args
    return f"{args['text']}\n{all_text(blocks_of(args))}"


def _click_approve(
    app: SocketModeApp, example_id: int, reviewer: str, name: str
) -> dict[str, object]:
    return click_payload(
        app.double,
        reviewer,
        "review_approve",
        button_value(example_id, []),
        response_url=app.double.response_url(name),
    )


def test_socket_mode_acks_envelopes_replies_and_stops_cleanly(
    socket_mode: SocketModeApp, db: TestDatabase
) -> None:
    app = socket_mode
    with db.session() as s:
        alice = person(s, "UALICE")
        first, second = example(s, alice).id, example(s, alice).id
    conn = app.connected()
    # The URL came from apps.connections.open, asked with the app-level token.
    opened = app.double.last("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {VALID_APP_TOKEN}"
    assert opened.reply["url"].endswith(conn.path)
    assert app.double.last("auth.test").headers["authorization"] == f"Bearer {VALID_TOKEN}"

    # A slash command: an empty ack for its envelope, then the answer through response_url.
    fields = command_fields(
        app.double, "UALICE", "stats", response_url=app.double.response_url("stats")
    )
    sent = conn.send_envelope("slash_commands", fields, accepts_response_payload=True)
    ack = conn.wait_for_ack(sent)
    assert ack.payload is None and ack.seconds is not None
    assert "Progress toward targets" in _reply(app, "stats")

    # Approve on someone else's example: acked, then a review in the database.
    sent = conn.send_envelope("interactive", _click_approve(app, first, "UBOB", "approve"))
    assert conn.wait_for_ack(sent).payload is None
    assert "Approved" in _reply(app, "approve")
    with db.session() as s:
        review = s.scalars(select(Review)).one()
        assert (review.example_id, review.verdict) == (first, Verdict.APPROVE)
        assert s.get_one(Contributor, review.reviewer_id).slack_user_id == "UBOB"
    assert [a.envelope_id for a in conn.acks] == [m["envelope_id"] for m in conn.messages]

    # SIGTERM while the reply to an acked click is still due: it is sent before the process
    # exits. A click on the Home tab's Review button has no response_url, so its reply is a
    # chat.postMessage; the double answers the first one with 429, and the app waits out the
    # Retry-After when the SIGTERM comes.
    with db.session() as s:
        review_count = s.scalar(select(func.count()).select_from(Review))
    app.double.throttle("chat.postMessage", retry_after=2)
    home = {"id": "VHOME", "type": "home", "blocks": []}
    click = click_payload(app.double, "UBOB", "open_review", "", view=home)
    conn.wait_for_ack(conn.send_envelope("interactive", click))
    app.double.wait_for("chat.postMessage")  # the 429
    app.terminate()
    assert app.proc.wait(STOP_TIMEOUT) == 0
    posts = app.double.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert f"#{second}" in posts[-1].args["text"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == review_count
