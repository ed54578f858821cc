"""The versioned Self-Instruct-style few-shot prompt for LLM drafts, and the answer schema."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Bump when the wording or the schema changes: stored drafts keep the version they came from.
PROMPT_VERSION = "selfinstruct-v1"

SYSTEM_PROMPT = (
    "You write training examples for an instruction-following assistant. Each example is an "
    "instruction a person at work might give, an optional reference text (context), and the "
    "response a careful, accurate assistant would give. Answer with JSON only."
)


@dataclass(frozen=True)
class FewShot:
    """One example shown to the model (already scrubbed of personal data)."""

    instruction: str
    context: str
    response: str


@dataclass(frozen=True)
class CategoryBrief:
    """What the prompt needs to know about a category."""

    slug: str
    name: str
    guideline: str
    needs_context: bool


def answer_schema() -> dict[str, Any]:
    """The JSON schema of an answer: `{"examples": [{instruction, context, response}]}`."""
    item = {
        "type": "object",
        "properties": {
            "instruction": {"type": "string"},
            "context": {"type": "string"},
            "response": {"type": "string"},
        },
        "required": ["instruction", "context", "response"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"examples": {"type": "array", "items": item}},
        "required": ["examples"],
        "additionalProperties": False,
    }


def response_format() -> dict[str, Any]:
    """The `response_format` parameter asking for structured output with the answer schema."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "instruction_examples",
            "strict": True,
            "schema": answer_schema(),
        },
    }


def _render_example(i: int, ex: FewShot, needs_context: bool) -> str:
    obj: dict[str, str] = {"instruction": ex.instruction}
    obj["context"] = ex.context if needs_context or ex.context else ""
    obj["response"] = ex.response
    return f"Example {i}:\n{json.dumps(obj, ensure_ascii=False, indent=2)}"


def build_messages(
    category: CategoryBrief, samples: Sequence[FewShot], n: int
) -> list[dict[str, str]]:
    """System and user messages asking for `n` new examples of `category`, few-shot."""
    context_rule = (
        "Every example MUST include a self-contained reference text in `context` (a paragraph "
        "of several sentences), and the response must be based on that text only."
        if category.needs_context
        else "Leave `context` as an empty string unless the instruction truly needs a text."
    )
    parts = [
        f"Category: {category.name} ({category.slug})",
        f"Guideline given to human writers: {category.guideline.strip()}",
        context_rule,
    ]
    if samples:
        parts.append("Here are examples written by people for this category:")
        parts.extend(
            _render_example(i, ex, category.needs_context) for i, ex in enumerate(samples, 1)
        )
    parts.append(
        f"Write {n} new, different examples for this category. Vary the topic, the length and "
        "the phrasing; do not copy or lightly reword the examples above; do not include names, "
        "e-mail addresses, phone numbers or other personal data. Answer with one JSON object: "
        '{"examples": [{"instruction": "...", "context": "...", "response": "..."}]}'
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def render_prompt(messages: Sequence[dict[str, str]]) -> str:
    """The messages as readable text (for snapshots and `--dry-run`)."""
    return "\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in messages) + "\n"
