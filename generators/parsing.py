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
    try:
        doc = json.loads(_strip_fence(content))
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"not valid JSON ({exc.msg} at char {exc.pos})") from exc
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
