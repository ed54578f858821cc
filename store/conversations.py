"""Conversations: multi-turn examples, their turns, and the rules the turns must meet.

A conversation is an Example of kind `conversation` whose turns are kept in example_turns.
Its `instruction` holds the user turns and its `response` the assistant turns, each joined by
a blank line, so validation limits, near-duplicate search, PII checks and exact-duplicate
hashes written for pairs run over every turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from store.enums import TurnRole
from store.models import Category, Example, ExampleTurn
from store.validation import MAX_FIELD_CHARS, normalize_text, unstorable

# Turns a person may write or capture in one conversation (Slack's modal holds 100 blocks).
MAX_TURNS = 40
SIDE_JOIN = "\n\n"


@dataclass(frozen=True)
class Turn:
    """One turn: its side, its text, and for captured turns who wrote it and where."""

    role: TurnRole
    text: str
    author: str | None = None
    source_ts: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The turn as {"role", "text"}: the shape exports and revisions keep."""
        return {"role": self.role.value, "text": self.text}


def merge_consecutive(turns: Iterable[Turn]) -> list[Turn]:
    """Consecutive turns of one side merged into one (texts joined by a blank line).

    The merged turn keeps the first turn's author and message only when every part shares it.
    """
    merged: list[Turn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            last = merged[-1]
            merged[-1] = Turn(
                last.role,
                f"{last.text}{SIDE_JOIN}{turn.text}",
                last.author if last.author == turn.author else None,
                last.source_ts,
            )
        else:
            merged.append(turn)
    return merged


def sides(turns: Sequence[Turn]) -> tuple[str, str]:
    """(user side, assistant side): each side's turns joined by a blank line, stripped."""
    user = SIDE_JOIN.join(t.text.strip() for t in turns if t.role == TurnRole.USER)
    assistant = SIDE_JOIN.join(t.text.strip() for t in turns if t.role == TurnRole.ASSISTANT)
    return user, assistant


def conversation_hash(turns: Sequence[Turn]) -> str:
    """sha256 of the normalised turns with their roles: equal hashes are exact duplicates."""
    joined = "\x1e".join(f"{t.role.value}\x1f{normalize_text(t.text)}" for t in turns)
    return hashlib.sha256(("conversation\x1e" + joined).encode("utf-8")).hexdigest()


def turn_field(index: int) -> str:
    """The error key of turn `index` (0-based): forms show the message on that turn's input."""
    return f"turn_{index}"


def validate_turns(
    category: Category, turns: Sequence[Turn], *, strict: bool = True
) -> dict[str, str]:
    """Field -> what to fix ("turns" for the whole, turn_N for one turn).

    A conversation opens (after an optional system turn) with a user turn, alternates sides,
    and ends with an assistant turn; `strict` adds the category's length limit per turn.
    """
    errors: dict[str, str] = {}
    limit = min(category.max_field_chars or MAX_FIELD_CHARS, MAX_FIELD_CHARS)
    limit = limit if strict else MAX_FIELD_CHARS
    for i, turn in enumerate(turns):
        text = turn.text.strip()
        problem = unstorable(turn.text)
        if problem is None and not text:
            problem = "This turn is empty: write it or remove it."
        elif problem is None and len(text) > limit:
            problem = f"Too long: at most {limit:,} characters (this has {len(text):,})."
        elif problem is None and turn.role == TurnRole.SYSTEM and i != 0:
            problem = "Only the first turn may be a system message."
        elif problem is None and i > 0 and turns[i - 1].role == turn.role:
            problem = f"Two {turn.role.value} turns in a row: merge them or change a side."
        if problem:
            errors[turn_field(i)] = problem
    body = [t for t in turns if t.role != TurnRole.SYSTEM]
    if len(turns) > MAX_TURNS:
        errors["turns"] = f"At most {MAX_TURNS} turns (this has {len(turns)})."
    elif len(body) < 2:
        errors["turns"] = "A conversation needs at least a user turn and an assistant reply."
    elif body[0].role != TurnRole.USER:
        errors["turns"] = "A conversation starts with the user's turn."
    elif body[-1].role != TurnRole.ASSISTANT:
        errors["turns"] = "A conversation ends with the assistant's reply."
    return errors


def turn_values(turns: Sequence[Turn]) -> list[dict[str, object]]:
    """The column values of `turns` (stripped), positions from 0: bulk inserts use them."""
    return [
        {
            "position": i,
            "role": t.role,
            "text": t.text.strip(),
            "author_slack_user_id": t.author,
            "source_ts": t.source_ts,
        }
        for i, t in enumerate(turns)
    ]


def stored_turns(turns: Sequence[Turn]) -> list[ExampleTurn]:
    """Rows for `turns` (stripped), positions from 0."""
    return [ExampleTurn(**values) for values in turn_values(turns)]


def turns_of(example: Example) -> list[Turn]:
    """An example's turns in order (empty for a pair)."""
    return [
        Turn(t.role, t.text, t.author_slack_user_id, t.source_ts)
        for t in sorted(example.turns, key=lambda t: t.position)
    ]
