"""What every format writer shares: the row it is given and streaming text output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, ClassVar

BUFFER_BYTES = 1 << 20
PAIR = "pair"
# ShareGPT's name for each chat role (FastChat, axolotl and LLaMA-Factory read these).
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}
SINGLE_EXCHANGE = ("user", "assistant")


def single_exchange(roles: Sequence[str]) -> bool:
    """True for the roles of a conversation that is one user turn and its reply: a pair."""
    return tuple(roles) == SINGLE_EXCHANGE


@dataclass(frozen=True)
class OutRow:
    """One exported example: cleaned text plus category, origin, stable id and pseudonym.

    A conversation also carries its cleaned turns as (role, text); its `instruction` and
    `response` are then its user and assistant sides.
    """

    id: int
    category: str
    origin: str
    contributor: str | None
    instruction: str
    context: str
    response: str
    kind: str = PAIR
    turns: tuple[tuple[str, str], ...] = ()

    @property
    def is_pair(self) -> bool:
        """True when the row fits a pair format: a pair, or a conversation of one exchange."""
        return self.kind == PAIR or single_exchange([role for role, _ in self.turns])

    def user_turn(self) -> str:
        """The instruction with its reference text, for chat formats (context in the user turn)."""
        if not self.context:
            return self.instruction
        return f"{self.instruction}\n\n{self.context}"

    def has_system_turn(self) -> bool:
        """True when the row brings its own system turn (an export's prompt then yields)."""
        return bool(self.turns) and self.turns[0][0] == "system"

    def meta(self) -> dict[str, Any]:
        """The provenance fields every format carries."""
        return {
            "id": self.id,
            "category": self.category,
            "origin": self.origin,
            "contributor": self.contributor,
        }

    @cached_property
    def encoded(self) -> dict[str, str]:
        """Each text JSON-encoded once, shared by every format the row is written in."""
        return {
            "instruction": enc(self.instruction),
            "context": enc(self.context),
            "response": enc(self.response),
            "user": enc(self.user_turn()),
            # The provenance members without braces, to splice into any object.
            "meta": enc(self.meta())[1:-1],
        }

    @cached_property
    def _chat(self) -> list[tuple[str, str]]:
        # (role, JSON text) of each turn of a conversation, encoded once for both formats.
        return [(role, enc(text)) for role, text in self.turns]

    def chat_json(self) -> str:
        """The chat turns as comma-joined OpenAI `{role, content}` objects (no brackets)."""
        # Plain methods, not cached: each format asks once, and the pair case (the common
        # one) is one f-string on the texts `encoded` holds.
        if self.kind == PAIR:
            e = self.encoded
            return (
                f'{{"role": "user", "content": {e["user"]}}}, '
                f'{{"role": "assistant", "content": {e["response"]}}}'
            )
        return ", ".join(f'{{"role": "{r}", "content": {t}}}' for r, t in self._chat)

    def sharegpt_json(self) -> str:
        """The chat turns as comma-joined ShareGPT `{from, value}` objects (no brackets)."""
        if self.kind == PAIR:
            e = self.encoded
            return (
                f'{{"from": "human", "value": {e["user"]}}}, '
                f'{{"from": "gpt", "value": {e["response"]}}}'
            )
        return ", ".join(f'{{"from": "{SHAREGPT_FROM[r]}", "value": {t}}}' for r, t in self._chat)


def enc(value: object) -> str:
    """Compact JSON text of a value, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class FormatOptions:
    """Per-export choices a format may honour (today: the system prompt of chat formats)."""

    system_prompt: str | None = None


class Writer:
    """Writes one file of one format; `write` row by row, `close` once."""

    extension: ClassVar[str] = ""
    # False for layouts of single instruction/response pairs (Dolly, Alpaca): the export
    # leaves multi-turn conversations out of them and says so (manifest, dropped.jsonl).
    holds_conversations: ClassVar[bool] = True

    def __init__(self, path: Path, options: FormatOptions | None = None) -> None:
        self.path = path
        self.options = options or FormatOptions()
        self.rows = 0

    def outputs(self) -> dict[Path, int]:
        """Every file this writer produced and its row count (a format may add a sidecar)."""
        return {self.path: self.rows}

    def write(self, row: OutRow) -> None:
        """Append one row."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (the caller fsyncs it)."""
        raise NotImplementedError


class TextWriter(Writer):
    """A UTF-8 text file written through a large buffer."""

    def __init__(self, path: Path, options: FormatOptions | None = None) -> None:
        super().__init__(path, options)
        self._f: IO[str] = path.open("w", encoding="utf-8", newline="\n", buffering=BUFFER_BYTES)

    def close(self) -> None:
        """Flush and close the file."""
        self._f.close()


class JsonLinesWriter(TextWriter):
    """One JSON object per line; subclasses say what the object is."""

    extension = "jsonl"

    def line(self, row: OutRow) -> str:
        """The JSON text of one row, without the newline."""
        raise NotImplementedError

    def write(self, row: OutRow) -> None:
        """Append the row as one line."""
        self._f.write(self.line(row))
        self._f.write("\n")
        self.rows += 1
