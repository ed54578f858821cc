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
# The interactions the app has listeners for (buttons, selects, modals, the message shortcut).
PAYLOAD_TYPES = frozenset({"block_actions", "view_submission", "view_closed", "message_action"})
# Where Bolt looks for who/where a request comes from: each a string or an object of strings.
_ID_HOLDERS = ("user", "team", "enterprise", "channel")
_ID_FIELDS = ("id", "team_id", "enterprise_id", "user_id", "channel_id", "name", "username")
_NESTED = ("event", "message", "previous_message", "item", "assistant_thread", "view", "container")
_SCALARS = (
    "type",
    "user_id",
    "team_id",
    "enterprise_id",
    "channel_id",
    "api_app_id",
    "token",
    "trigger_id",
    "response_url",
    "thread_ts",
    "callback_id",
    "action_id",
    "block_id",
    "app_installed_team_id",
    "tab",
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


def _check_shape(doc: dict[str, Any], where: str, depth: int = 0) -> None:
    """The fields Bolt reads to route a request and to fill its context, at any level."""
    for name in _SCALARS:
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise BadBody(f"{where}{name} is a {type(doc[name]).__name__}, not a string")
    for name in _ID_HOLDERS:
        value = doc.get(name)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, dict):
            raise BadBody(f"{where}{name} is a {type(value).__name__}")
        for key in _ID_FIELDS:
            if value.get(key) is not None and not isinstance(value[key], str):
                raise BadBody(f"{where}{name}.{key} is not a string")
    auths = doc.get("authorizations")
    if auths is not None:
        if not (isinstance(auths, list) and all(isinstance(a, dict) for a in auths)):
            raise BadBody(f"{where}authorizations is not a list of objects")
        for i, auth in enumerate(auths[:1]):
            _check_shape(auth, f"{where}authorizations[{i}].", depth + 1)
    for name in _NESTED:
        value = doc.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise BadBody(f"{where}{name} is a {type(value).__name__}, not an object")
        if depth < 2:
            _check_shape(value, f"{where}{name}.", depth + 1)


def _check_view(view: dict[str, Any]) -> None:
    """A view as Slack sends it: a modal or home tab, its blocks and state as objects."""
    if view.get("type") not in ("modal", "home"):
        raise BadBody(f"view type {str(view.get('type'))[:20]!r} is not a modal or home tab")
    blocks = view.get("blocks", [])
    if not (isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)):
        raise BadBody("view.blocks is not a list of objects")
    for b in blocks:
        if not isinstance(b.get("block_id", ""), str) or not isinstance(b.get("type", ""), str):
            raise BadBody("a view block has a block_id or type that is not a string")
    if not isinstance(view.get("private_metadata", ""), str):
        raise BadBody("view.private_metadata is not a string")
    values = view.get("state", {})
    values = values.get("values", {}) if isinstance(values, dict) else None
    if not (
        isinstance(values, dict)
        and all(
            isinstance(block, dict) and all(isinstance(v, dict) for v in block.values())
            for block in values.values()
        )
    ):
        raise BadBody("view.state.values is not an object of objects")


def _typed_object(doc: Any, what: str, kinds: frozenset[str], unknown: str) -> str:
    """`doc`'s type, when it is an object of one of `kinds` whose routing fields Bolt reads."""
    if not isinstance(doc, dict):
        raise BadBody(f"{what} is a JSON {type(doc).__name__}, not an object")
    kind = doc.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        raise BadBody(f"{what} type {str(kind)[:40]!r} is not one {unknown}")
    _check_shape(doc, "")
    return kind


def _check_interactive(payload: Any) -> None:
    kind = _typed_object(payload, "payload", PAYLOAD_TYPES, "this app handles")
    actions = payload.get("actions")
    if kind == "block_actions" and not (
        isinstance(actions, list)
        and actions
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
        and all(isinstance(a.get("block_id", ""), str) for a in actions)
    ):
        raise BadBody("actions is not a list of actions with an action_id")
    view = payload.get("view")
    if kind in ("view_submission", "view_closed") and not (
        isinstance(view, dict) and isinstance(view.get("callback_id"), str)
    ):
        raise BadBody(f"{kind} without a view and its callback_id")
    if isinstance(view, dict):
        _check_view(view)
    if kind == "message_action":
        _check_message_action(payload)
    # What Slack always sends with these, and what the listeners answer through.
    if not isinstance(payload.get("trigger_id"), str) and kind != "view_closed":
        raise BadBody(f"{kind} without a trigger_id")
    container = payload.get("container")
    where = container.get("type") if isinstance(container, dict) else None
    if kind == "block_actions" and where in ("view", None) and not isinstance(view, dict):
        raise BadBody("an action in a view without the view")
    if kind == "block_actions" and where == "message" and "response_url" not in payload:
        raise BadBody("an action in a message without its response_url")
    url = payload.get("response_url")
    if url is not None and not url.startswith(("https://", "http://")):
        raise BadBody("response_url is not a URL")
    urls = payload.get("response_urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, dict) for u in urls)):
        raise BadBody("response_urls is not a list of objects")


def _check_message_action(payload: dict[str, Any]) -> None:
    """A message shortcut: its callback_id, the channel and the message (with its ts)."""
    if not isinstance(payload.get("callback_id"), str):
        raise BadBody("message_action without a callback_id")
    channel, message = payload.get("channel"), payload.get("message")
    if not (isinstance(channel, dict) and isinstance(channel.get("id"), str)):
        raise BadBody("message_action without the channel's id")
    if not (isinstance(message, dict) and isinstance(message.get("ts"), str)):
        raise BadBody("message_action without the message and its ts")
    for name in ("text", "user", "thread_ts"):
        if message.get(name) is not None and not isinstance(message[name], str):
            raise BadBody(f"message.{name} is not a string")
    if not isinstance(payload.get("response_url"), str):
        raise BadBody("message_action without its response_url")


def _check_events(doc: Any) -> None:
    kind = _typed_object(doc, "event envelope", EVENT_TYPES, "Slack sends")
    event = doc.get("event")
    if kind == "event_callback" and not (
        isinstance(event, dict) and isinstance(event.get("type"), str)
    ):
        raise BadBody("event is missing or not an object with a type")
    if kind == "url_verification" and not isinstance(doc.get("challenge"), str):
        raise BadBody("url_verification without a challenge")


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
    form = dict(fields)
    payload = form.get("payload")
    if payload is not None:
        _check_interactive(_json(payload))
        return
    if not form.get("command") and form.get("ssl_check") != "1":
        raise BadBody("a form that is neither a slash command nor an interaction")
    if form.get("command"):
        for name in ("response_url", "trigger_id"):
            if not form.get(name):
                raise BadBody(f"a slash command without its {name}")
        if not form["response_url"].startswith(("https://", "http://")):
            raise BadBody("response_url is not a URL")
