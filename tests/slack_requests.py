"""Requests signed exactly as Slack signs them, sent over HTTP to the app on a local port.

`SlackApp` serves the real WSGI app (Bolt's adapter + /healthz) with wsgiref in a thread; its
Web API client is the real slack_sdk client pointed at a `SlackDouble`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sqlalchemy import Engine

from bot.config import Settings
from bot.runtime import Runtime
from bot.sandbox.payloads import message_action
from bot.serve import finish_follow_ups
from bot.slack.app import FOLLOW_UP_THREADS, build_app
from bot.slack.client import build_client
from bot.slack.handlers.common import ExportRunner
from bot.slack.standin.web_api import TEAM_ID, VALID_TOKEN, SlackDouble
from bot.slack.wsgi import EVENTS_PATH, build_wsgi, database_check
from tests.dbs import TestDatabase

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_serial = itertools.count(1)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The two headers Slack adds to every request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(secret, ts, body)}


@dataclass
class Reply:
    """What the app answered."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON (an empty body is None)."""
        return json.loads(self.body) if self.body.strip() else None


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def post(url: str, body: bytes, headers: dict[str, str]) -> Reply:
    """POST and return status and body, whatever the status."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (local test server)
            return Reply(resp.status, resp.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read())


def get(url: str) -> Reply:
    """GET and return status and body, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (local test server)
            return Reply(resp.status, resp.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read())


def settings_for(db_url: str, double: SlackDouble, **overrides: Any) -> Settings:
    """Settings of an app talking to `double`, signing secret SIGNING_SECRET."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "slack_bot_token": VALID_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": double.api_url,
        "quorum_approvals": 2,
        "quorum_rejections": 2,
    }
    values.update(overrides)
    return Settings(**values)


def command_fields(
    double: SlackDouble,
    user: str,
    text: str = "",
    *,
    name: str | None = None,
    response_url: str | None = None,
) -> dict[str, str]:
    """The fields of a `/crowdtune TEXT` slash command from `user`: a form in HTTP mode, the
    payload of a `slash_commands` envelope in Socket Mode."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "acme",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": user,
        "user_name": name or user.lower(),
        "command": "/crowdtune",
        "text": text,
        "api_app_id": "A0CROWD",
        "response_url": response_url or double.response_url(f"cmd-{user}-{next(_serial)}"),
        "trigger_id": f"trig-{next(_serial)}",
    }


def _user(user: str) -> dict[str, str]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID}


def click_payload(
    double: SlackDouble,
    user: str,
    action_id: str,
    value: str = "",
    *,
    message_blocks: list[dict[str, Any]] | None = None,
    rating: int | None = None,
    response_url: str | None = None,
    view: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The block_actions payload of a click on a button in a message (or in a view, when
    `view` given); `response_url` defaults to a fresh one of `double`."""
    state: dict[str, Any] = {"values": {}}
    if rating is not None:
        state["values"]["rating"] = {
            "review_rate": {
                "type": "static_select",
                "selected_option": {"value": str(rating)},
            }
        }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "user": _user(user),
        "api_app_id": "A0CROWD",
        "token": "legacy-verification-token",
        "trigger_id": f"trig-{next(_serial)}",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "decide",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        payload["view"] = view
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": "1.000001",
            "is_ephemeral": True,
        }
        payload["channel"] = {"id": f"D{user}", "name": "directmessage"}
        payload["message"] = {"ts": "1.000001", "blocks": message_blocks or []}
        payload["state"] = state
        payload["response_url"] = response_url or double.response_url(f"act-{user}-{next(_serial)}")
    return payload


def message_action_payload(
    user: str,
    channel: dict[str, str],
    message: dict[str, Any],
    *,
    callback_id: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A message shortcut's payload in Slack's documented shape (the sandbox's builder, which
    follows api.slack.com's message_action reference and bolt-python's tests)."""
    payload = message_action(
        user_id=user,
        user_name=user.lower(),
        channel=channel,
        message=message,
        callback_id=callback_id,
        trigger_id=trigger_id,
        response_url=response_url,
    )
    payload["team"] = {"id": TEAM_ID, "domain": "acme"}
    return payload


@dataclass
class SlackApp:
    """The app served on 127.0.0.1 and driven like Slack drives it."""

    db: TestDatabase
    double: SlackDouble
    settings: Settings
    exporter: ExportRunner | None = None
    sleeps: list[float] = field(default_factory=list)
    engine: Engine | None = None  # instead of the test database's own (e.g. shorter lock waits)

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.settings, _engine=self.engine or self.db.engine)
        # The retry handler records the Retry-After waits instead of sleeping through them.
        client = build_client(self.settings, sleep=self.sleeps.append)
        self.app = build_app(self.runtime, client=client, exporter=self.exporter)
        secret = self.settings.slack_signing_secret
        wsgi = build_wsgi(
            self.app,
            database_check(self.db.engine),
            signing_secret=secret.get_secret_value() if secret else None,
        )
        self.server = make_server(
            "127.0.0.1", 0, wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving; the follow-ups of requests already acked finish before this returns."""
        self.server.shutdown()
        self.server.server_close()
        finish_follow_ups(self.app)

    def settle(self) -> None:
        """Wait until every follow-up queued so far has run: one task per pool thread, all
        meeting at a barrier, can only meet once the tasks queued before them are done."""
        executor = self.app.listener_runner.listener_executor
        barrier = threading.Barrier(FOLLOW_UP_THREADS + 1)
        for _ in range(FOLLOW_UP_THREADS):
            executor.submit(barrier.wait, 30)
        barrier.wait(30)

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- raw ---
    def send(self, body: bytes, content_type: str, *, signed: bool = True, **headers: str) -> Reply:
        """POST a body to /slack/events, signed unless told not (headers may override)."""
        all_headers = {"Content-Type": content_type, **(signed_headers(body) if signed else {})}
        all_headers.update(headers)
        return post(self.url + EVENTS_PATH, body, all_headers)

    # --- what Slack sends ---
    def command(self, user: str, text: str = "", *, name: str | None = None) -> Reply:
        """A `/crowdtune TEXT` slash command from `user`."""
        form = command_fields(self.double, user, text, name=name)
        return self.send(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def interact(self, payload: dict[str, Any]) -> Reply:
        """An interactivity request: form-encoded `payload=` JSON."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.send(body, "application/x-www-form-urlencoded")

    def click(
        self,
        user: str,
        action_id: str,
        value: str = "",
        *,
        message_blocks: list[dict[str, Any]] | None = None,
        rating: int | None = None,
        response_url: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> Reply:
        """A block_actions click on a button in a message (or in a view, when `view` given)."""
        payload = click_payload(
            self.double,
            user,
            action_id,
            value,
            message_blocks=message_blocks,
            rating=rating,
            response_url=response_url,
            view=view,
        )
        return self.interact(payload)

    def select(self, user: str, view: dict[str, Any], action_id: str, value: str) -> Reply:
        """A select menu changed inside a modal (dispatch_action)."""
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": _user(user),
            "api_app_id": "A0CROWD",
            "trigger_id": f"trig-{next(_serial)}",
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
            "actions": [
                {
                    "type": "static_select",
                    "action_id": action_id,
                    "block_id": "category",
                    "selected_option": {"value": value},
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self.interact(payload)

    def submit(self, user: str, view: dict[str, Any]) -> Reply:
        """A view_submission of `view` (its `state` filled by `fill`)."""
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": _user(user),
            "api_app_id": "A0CROWD",
            "trigger_id": f"trig-{next(_serial)}",
            "view": view,
            "response_urls": [],
        }
        return self.interact(payload)

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> Reply:
        """An Events API delivery (JSON), optionally marked as Slack's retry."""
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": "A0CROWD",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(_serial):08d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True}],
            }
        ).encode()
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.send(body, "application/json", **headers)


def opened_view(call_args: dict[str, Any]) -> dict[str, Any]:
    """The view object of a recorded views.open/update/publish call, with an id like Slack's."""
    view = call_args["view"]
    view = json.loads(view) if isinstance(view, str) else dict(view)
    view.setdefault("id", f"V{next(_serial):08d}")
    view.setdefault("hash", "h1")
    return view


def fill(
    view: dict[str, Any],
    *,
    instruction: str | None = None,
    context: str | None = None,
    response: str | None = None,
    category: str | None = None,
    confirm: bool = False,
    reason: str | None = None,
    typed: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The view with `state.values` as a person's typing leaves them (initial values kept);
    `typed` gives any other block's text or choice by block id (e.g. turn_1, side_1)."""
    values: dict[str, Any] = {}
    texts: dict[str, str | None] = {
        "instruction": instruction,
        "context": context,
        "response": response,
        "reason": reason,
        "category": category,
        **(typed or {}),
    }
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        bid, el = block["block_id"], block["element"]
        if el["type"] == "plain_text_input":
            value = texts.get(bid)
            if value is None:
                value = el.get("initial_value")
            values[bid] = {el["action_id"]: {"type": "plain_text_input", "value": value}}
        elif el["type"] in ("static_select", "radio_buttons"):
            option = el.get("initial_option")
            pick = texts.get(bid)
            if pick is not None:
                option = next(o for o in el["options"] if o["value"] == pick)
            values[bid] = {el["action_id"]: {"type": el["type"], "selected_option": option}}
        elif el["type"] == "checkboxes":
            chosen = el["options"][:1] if confirm else []
            values[bid] = {el["action_id"]: {"type": "checkboxes", "selected_options": chosen}}
    return {**view, "state": {"values": values}}
