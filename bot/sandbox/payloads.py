"""The requests Slack sends an app, built from a person's clicks, signed and POSTed to it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.slack.standin.web_api import APP_ID, TEAM_ID

TEAM = {"id": TEAM_ID, "domain": "sandbox"}
LEGACY_TOKEN = "sandbox-verification-token"  # noqa: S105 (Slack's deprecated field, unused)


@dataclass(frozen=True)
class AppReply:
    """The app's answer to one request: HTTP status and body."""

    status: int
    body: bytes

    def json(self) -> dict[str, Any] | None:
        """The body as a JSON object (None when empty or not an object)."""
        try:
            data = json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class AppEndpoint:
    """The app's Request URL and the signing secret Slack signs with."""

    url: str
    signing_secret: str

    def post(self, body: bytes, content_type: str) -> AppReply:
        """POST `body` with Slack's v0 signature headers, as Slack does."""
        ts = str(int(time.time()))
        sig = str(
            SignatureVerifier(self.signing_secret).generate_signature(timestamp=ts, body=body)
        )
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
        }
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (the local app)
                return AppReply(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            return AppReply(exc.code, exc.read())

    def form(self, fields: dict[str, str]) -> AppReply:
        """A slash command (form fields)."""
        return self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def interactive(self, payload: dict[str, Any]) -> AppReply:
        """An interactivity payload (form field `payload` holding JSON)."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded")

    def event(self, envelope: dict[str, Any]) -> AppReply:
        """An Events API envelope (JSON)."""
        return self.post(json.dumps(envelope).encode(), "application/json")


def _user(user_id: str, name: str) -> dict[str, str]:
    return {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID}


def slash_command(
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    text: str,
    trigger_id: str,
    response_url: str,
    command: str = "/crowdtune",
) -> dict[str, str]:
    """The form fields of a slash command."""
    return {
        "token": LEGACY_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM["domain"],
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_actions(
    *,
    user_id: str,
    user_name: str,
    action: dict[str, Any],
    trigger_id: str,
    container: dict[str, Any],
    state: dict[str, Any],
    view: dict[str, Any] | None = None,
    channel: dict[str, str] | None = None,
    message: dict[str, Any] | None = None,
    response_url: str | None = None,
) -> dict[str, Any]:
    """A click (or selection) in a message, a modal or App Home."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": TEAM,
        "user": _user(user_id, user_name),
        "api_app_id": APP_ID,
        "token": LEGACY_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }
    if view is not None:
        payload["view"] = {**view, "state": state}
    else:
        payload["state"] = state
    if channel is not None:
        payload["channel"] = channel
    if message is not None:
        payload["message"] = message
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def message_action(
    *,
    user_id: str,
    user_name: str,
    channel: dict[str, str],
    message: dict[str, Any],
    callback_id: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A message shortcut used on `message` (Slack's documented message_action payload)."""
    return {
        "type": "message_action",
        "token": LEGACY_TOKEN,
        "action_ts": f"{time.time():.6f}",
        "team": TEAM,
        "user": _user(user_id, user_name),
        "channel": channel,
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": {"type": "message", "team": TEAM_ID, **message},
    }


def view_submission(
    *, user_id: str, user_name: str, view: dict[str, Any], state: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    """A modal's Submit."""
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": _user(user_id, user_name),
        "api_app_id": APP_ID,
        "token": LEGACY_TOKEN,
        "trigger_id": trigger_id,
        "view": {**view, "state": state},
        "response_urls": [],
    }


def view_closed(
    *, user_id: str, user_name: str, view: dict[str, Any], is_cleared: bool = False
) -> dict[str, Any]:
    """A modal closed with Cancel or × (sent only when the view asks: notify_on_close)."""
    return {
        "type": "view_closed",
        "team": TEAM,
        "user": _user(user_id, user_name),
        "api_app_id": APP_ID,
        "token": LEGACY_TOKEN,
        "view": view,
        "is_cleared": is_cleared,
    }


def app_home_opened(*, user_id: str, channel_id: str) -> dict[str, Any]:
    """The Events API envelope of a person opening the app's Home tab."""
    now = time.time()
    return {
        "token": LEGACY_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "type": "event_callback",
        "event_id": "Ev" + uuid.uuid4().hex[:12].upper(),
        "event_time": int(now),
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": channel_id,
            "tab": "home",
            "event_ts": f"{now:.6f}",
        },
        "authorizations": [{"team_id": TEAM_ID, "user_id": user_id, "is_bot": False}],
    }


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    opts = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        opts.extend(group.get("options") or [])
    return opts


def _pick(element: dict[str, Any], values: list[str]) -> list[dict[str, Any]]:
    by_value = {str(o.get("value")): o for o in _options(element)}
    return [by_value[v] for v in values if v in by_value]


def element_state(element: dict[str, Any], values: list[str]) -> dict[str, Any]:
    """The state Slack reports for one input element, from what the person typed or chose."""
    kind = str(element.get("type"))
    if kind == "plain_text_input":
        return {"type": kind, "value": values[0] if values and values[0] != "" else None}
    if kind in ("static_select", "radio_buttons"):
        picked = _pick(element, values[:1])
        return {"type": kind, "selected_option": picked[0] if picked else None}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": _pick(element, values)}
    return {"type": kind, "value": values[0] if values else None}


def stateful_elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) of every element that keeps state (inputs, selects, checkboxes)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        bid = str(block.get("block_id") or "")
        candidates = []
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            candidates.append(block["element"])
        if block.get("type") == "actions":
            candidates.extend(e for e in block.get("elements") or [] if isinstance(e, dict))
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for el in candidates:
            if el.get("type") in (
                "plain_text_input",
                "static_select",
                "radio_buttons",
                "checkboxes",
            ):
                out.append((bid, el))
    return out


def state_of(blocks: list[dict[str, Any]], typed: Mapping[str, list[str]]) -> dict[str, Any]:
    """`state.values` for these blocks; `typed` maps "block_id/action_id" to the values."""
    values: dict[str, dict[str, Any]] = {}
    for bid, el in stateful_elements(blocks):
        aid = str(el.get("action_id") or "")
        key = f"{bid}/{aid}"
        chosen = typed[key] if key in typed else _initial(el)
        values.setdefault(bid, {})[aid] = element_state(el, chosen)
    return {"values": values}


def _initial(el: dict[str, Any]) -> list[str]:
    if "initial_value" in el:
        return [str(el["initial_value"])]
    if isinstance(el.get("initial_option"), dict):
        return [str(el["initial_option"].get("value"))]
    return [str(o.get("value")) for o in el.get("initial_options") or []]
