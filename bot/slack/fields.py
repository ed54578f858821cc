"""Typed reads of the fields inside a signed Slack payload. Slack always sends them with the
right types; anything else is a forged or broken request, a `BadPayload` that the listener
answers politely (one warning line, no traceback)."""

from __future__ import annotations

import json
from typing import Any

from store.errors import DomainError

# Database ids are 64-bit; anything larger is not one of ours.
MAX_ID = 2**63 - 1
MAX_RAW_FIELD = 3000  # button values, private_metadata: Slack's own limits


class BadPayload(DomainError):
    """A field of a Slack request does not have the shape Slack gives it."""

    code = "bad_payload"

    def __init__(self, what: str) -> None:
        super().__init__(
            "Sorry, that request could not be read (it may come from an old message). "
            "Nothing was changed; please use the buttons of a new message."
        )
        self.what = what


def obj(value: Any, what: str) -> dict[str, Any]:
    """`value` when it is a JSON object (a missing one is empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadPayload(f"{what} is a {type(value).__name__}, not an object")
    return value


def path(doc: Any, *keys: str) -> dict[str, Any]:
    """The object at `doc[k1][k2]...`, each step checked to be an object (missing: empty)."""
    current = obj(doc, "payload")
    for i, key in enumerate(keys):
        current = obj(current.get(key), ".".join(keys[: i + 1]))
    return current


def text(value: Any, what: str, *, default: str = "") -> str:
    """`value` when it is a string (a missing one is `default`)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadPayload(f"{what} is a {type(value).__name__}, not a string")
    return value


def identifier(value: Any, what: str) -> int:
    """A database id: a positive whole number below 2**63, given as a number or digits."""
    if isinstance(value, bool):
        raise BadPayload(f"{what} is a boolean, not an id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise BadPayload(f"{what} {str(value)[:40]!r} is not an id")
    return value


def json_object(raw: Any, what: str) -> dict[str, Any]:
    """A JSON object kept in a string field (button value, private_metadata)."""
    raw = text(raw, what)
    if len(raw) > MAX_RAW_FIELD:
        raise BadPayload(f"{what} is {len(raw)} characters long")
    try:
        doc = json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:
        raise BadPayload(f"{what} is not JSON") from exc
    return obj(doc, what)
