"""Defensive parsing of a model's answer: JSON (possibly fenced) into candidate examples."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.S)


class MalformedAnswer(ValueError):
    """The answer is not the JSON document we asked for (truncated, not JSON, wrong shape)."""


@dataclass(frozen=True)
class Candidate:
    """One example as the model wrote it, with string fields checked."""

    instruction: str
    context: str
    response: str


@dataclass(frozen=True)
class BadItem:
    """An item of the answer that cannot be used as it is, and why."""

    index: int
    problem: str


@dataclass(frozen=True)
class Completion:
    """The parts of a chat-completion body we use, each checked for its type."""

    has_choice: bool
    content: str
    refusal: str
    finish_reason: str
    # (prompt, completion) tokens as the server reported them; None when it sent no usage.
    usage: tuple[int, int] | None


def _loads(text: str | bytes) -> Any:
    # Deep nesting makes the json module recurse until RecursionError: a malformed answer too.
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"not valid JSON ({exc.msg} at char {exc.pos})") from exc
    except (RecursionError, UnicodeDecodeError) as exc:
        raise MalformedAnswer(f"not usable JSON ({type(exc).__name__})") from exc


def _count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedAnswer(f"usage.{name} is {value!r:.40}, not a token count")
    return value


def _text(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedAnswer(f"{name} is {type(value).__name__}, not a string")
    return value


def read_completion(body: bytes, content_type: str) -> Completion:
    """Check a chat-completion body by hand: an HTML page, an empty body, junk types or JSON
    nested too deep are a MalformedAnswer, never an exception from deep inside a client."""
    if "json" not in content_type.lower():
        raise MalformedAnswer(f"answer is {content_type or 'untyped'}, not JSON")
    if not body.strip():
        raise MalformedAnswer("empty answer body")
    doc = _loads(body)
    if not isinstance(doc, dict):
        raise MalformedAnswer(f"answer is a JSON {type(doc).__name__}, not an object")
    usage_doc = doc.get("usage")
    usage: tuple[int, int] | None = None
    if isinstance(usage_doc, dict):
        usage = (_count(usage_doc, "prompt_tokens"), _count(usage_doc, "completion_tokens"))
    elif usage_doc is not None:
        raise MalformedAnswer(f"usage is {type(usage_doc).__name__}, not an object")
    choices = doc.get("choices")
    if not isinstance(choices, list):
        raise MalformedAnswer("choices is missing or not a list")
    if not choices:
        return Completion(False, "", "", "", usage)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise MalformedAnswer("choices[0].message is missing or not an object")
    return Completion(
        True,
        _text(message, "content"),
        _text(message, "refusal"),
        _text(choice, "finish_reason"),
        usage,
    )


def _strip_fence(text: str) -> str:
    m = _FENCE.match(text.strip())
    return m.group(1) if m else text.strip()


def _items(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        items = doc.get("examples")
        if isinstance(items, list):
            return items
        if {"instruction", "response"} <= doc.keys():
            return [doc]  # a single example where a list was asked for
    raise MalformedAnswer('expected {"examples": [...]} or a JSON array of examples')


def parse_answer(content: str) -> tuple[list[Candidate], list[BadItem]]:
    """Candidates with well-typed fields, and the items that were not (never half-used)."""
    doc = _loads(_strip_fence(content))
    good: list[Candidate] = []
    bad: list[BadItem] = []
    for i, item in enumerate(_items(doc)):
        if not isinstance(item, dict):
            bad.append(BadItem(i, f"item is {type(item).__name__}, not an object"))
            continue
        fields: dict[str, str] = {}
        problem = None
        for name in ("instruction", "context", "response"):
            value = item.get(name, "" if name == "context" else None)
            if value is None and name == "context":
                value = ""
            if not isinstance(value, str):
                problem = f"{name} is {type(value).__name__}, not a string"
                break
            fields[name] = value
        if problem:
            bad.append(BadItem(i, problem))
            continue
        good.append(Candidate(fields["instruction"], fields["context"], fields["response"]))
    return good, bad
