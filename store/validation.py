"""Rules every instruction/response pair must meet, whichever path it comes in by."""

from __future__ import annotations

import hashlib
import re

from rapidfuzz import fuzz

from store.models import Category

# Hard ceiling for curated text (imports, transforms); people are held to the category's own
# `max_field_chars` (3,000 by default, what a Slack text input holds).
MAX_FIELD_CHARS = 30_000
# Commands, reasons and other short free text a person types.
MAX_SHORT_TEXT_CHARS = 3000
_SURROGATES = re.compile("[\ud800-\udfff]")
# A response this similar to the context (character level) is a copy, not an answer.
COPY_SIMILARITY = 95.0


def normalize_text(text: str) -> str:
    """Collapse white space and case, for hashing and comparisons."""
    return " ".join(text.split()).casefold()


def content_hash(instruction: str, context: str, response: str) -> str:
    """sha256 of the normalised pair: two examples with the same hash are exact duplicates."""
    joined = "\x1f".join(normalize_text(t) for t in (instruction, context, response))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def response_copies_context(context: str, response: str) -> bool:
    """True when the response is the context (or nearly all of it) pasted back."""
    c, r = normalize_text(context), normalize_text(response)
    if not c or not r:
        return False
    if r == c:
        return True
    # Long responses that are almost exactly the context; short answers quoting it are fine.
    return len(r) >= 0.8 * len(c) and fuzz.ratio(c, r) >= COPY_SIMILARITY


def unstorable(text: str) -> str | None:
    """What makes `text` impossible to store faithfully (NUL bytes, lone surrogates), if any."""
    if "\x00" in text:
        return "Remove the NUL (\\0) characters: they cannot be stored."
    if not text.isascii() and _SURROGATES.search(text):  # (a surrogate is not ASCII)
        return "Remove the broken characters (lone UTF-16 surrogates): they are not text."
    return None


def check_short_text(field: str, text: str, limit: int = MAX_SHORT_TEXT_CHARS) -> dict[str, str]:
    """Field -> what to fix, for a reason or a comment: storable and at most `limit` chars."""
    problem = unstorable(text)
    if problem is None and len(text) > limit:
        problem = f"Too long: at most {limit:,} characters (this has {len(text):,})."
    return {field: problem} if problem else {}


def validate_pair(
    category: Category,
    instruction: str,
    context: str,
    response: str,
    *,
    strict: bool = True,
) -> dict[str, str]:
    """Field -> what to fix. `strict` adds the per-category minimums and maximum people are
    held to; text that cannot be stored faithfully is refused either way."""
    errors: dict[str, str] = {}
    for field, value in (
        ("instruction", instruction),
        ("context", context),
        ("response", response),
    ):
        problem = unstorable(value)
        if problem:
            errors[field] = problem
    if errors:
        return errors
    ins, ctx, resp = instruction.strip(), context.strip(), response.strip()
    if not ins:
        errors["instruction"] = "Write an instruction or question."
    elif strict and len(ins) < category.min_instruction_chars:
        errors["instruction"] = (
            f"The instruction is too short: write at least {category.min_instruction_chars} "
            "characters so someone else could act on it."
        )
    if not resp:
        errors["response"] = "Write the response you would want a model to give."
    elif strict and len(resp) < category.min_response_chars:
        errors["response"] = (
            f"The response is too short for {category.name}: at least "
            f"{category.min_response_chars} characters."
        )
    if strict and category.needs_context and not ctx:
        errors["context"] = (
            f"{category.name} needs a reference text: paste the passage the answer comes from."
        )
    limit = min(category.max_field_chars or MAX_FIELD_CHARS, MAX_FIELD_CHARS)
    limit = limit if strict else MAX_FIELD_CHARS
    for field, value in (("instruction", ins), ("context", ctx), ("response", resp)):
        if len(value) > limit and field not in errors:
            errors[field] = f"Too long: at most {limit:,} characters (this has {len(value):,})."
    if strict and ctx and resp and "response" not in errors and response_copies_context(ctx, resp):
        errors["response"] = (
            "The response repeats the reference text. Answer in your own words, or quote only "
            "the part that answers."
        )
    return errors
