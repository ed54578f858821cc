"""The shape of what Slack sends, checked on a signed body before Bolt parses it.

Bolt assumes well-formed JSON of the right types and raises deep inside its routing when a
body is not; those are 500s with tracebacks. Here a body that Slack would never send is a
`BadBody` (the endpoint answers 400 with one log line). Field values (ids, button values,
metadata) are checked later, by the listeners that read them (`bot.slack.fields`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

# Slack's own requests are a few kilobytes; 1 MB leaves room for big modal states.
MAX_BODY_BYTES = 1_000_000
PAYLOAD_TYPES = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "interactive_message",
        "dialog_submission",
    }
)
EVENT_TYPES = frozenset({"event_callback", "url_verification", "app_rate_limited"})


class BadBody(ValueError):
    """A signed body that is not a request Slack sends; the message says what is wrong."""


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadBody(f"not JSON ({exc.msg} at char {exc.pos})") from exc
    except RecursionError as exc:
        raise BadBody("JSON nested too deep") from exc


def _check_interactive(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise BadBody(f"payload is a JSON {type(payload).__name__}, not an object")
    kind = payload.get("type")
    if kind not in PAYLOAD_TYPES:
        raise BadBody(f"payload type {str(kind)[:40]!r} is not one Slack sends")
    actions = payload.get("actions")
    if actions is not None and not (
        isinstance(actions, list)
        and all(isinstance(a, dict) and isinstance(a.get("action_id", ""), str) for a in actions)
    ):
        raise BadBody("actions is not a list of objects")
    view = payload.get("view")
    if view is not None and not (
        isinstance(view, dict) and isinstance(view.get("callback_id", ""), str)
    ):
        raise BadBody("view is not an object")
    if kind in ("view_submission", "view_closed") and not isinstance(view, dict):
        raise BadBody(f"{kind} without a view")
    for name in ("team", "channel", "container", "enterprise"):
        value = payload.get(name)
        if value is not None and not isinstance(value, dict | str):
            raise BadBody(f"{name} is a {type(value).__name__}")


def _check_events(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise BadBody(f"body is a JSON {type(doc).__name__}, not an object")
    if doc.get("type") not in EVENT_TYPES:
        raise BadBody(f"event envelope type {str(doc.get('type'))[:40]!r} is not one Slack sends")
    event = doc.get("event")
    if doc.get("type") == "event_callback" and not (
        isinstance(event, dict) and isinstance(event.get("type"), str)
    ):
        raise BadBody("event is missing or not an object with a type")
    auths = doc.get("authorizations")
    if auths is not None and not (
        isinstance(auths, list) and all(isinstance(a, dict) for a in auths)
    ):
        raise BadBody("authorizations is not a list of objects")


def check_body(raw: bytes, content_type: str) -> None:
    """Raise BadBody unless `raw` is a request Slack sends, parsed the way Bolt will parse it."""
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"body is not UTF-8 (byte {exc.start})") from exc
    if not body:
        raise BadBody("empty body")
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or body.startswith("{"):
        _check_events(_json(body))
        return
    try:
        fields = parse_qsl(body, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise BadBody("not a form") from exc
    if "payload" in body:  # Bolt reads a `payload` field whenever the text appears
        payload = dict(fields).get("payload")
        if payload is None:
            raise BadBody("a form mentioning payload without a payload field")
        _check_interactive(_json(payload))
        return
    form = dict(fields)
    if not form.get("command") and form.get("ssl_check") != "1":
        raise BadBody("a form that is neither a slash command nor an interaction")
