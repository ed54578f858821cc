"""What every format writer shares: the row it is given and streaming text output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, ClassVar

BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class OutRow:
    """One exported example: cleaned text plus category, origin, stable id and pseudonym."""

    id: int
    category: str
    origin: str
    contributor: str | None
    instruction: str
    context: str
    response: str

    def user_turn(self) -> str:
        """The instruction with its reference text, for chat formats (context in the user turn)."""
        if not self.context:
            return self.instruction
        return f"{self.instruction}\n\n{self.context}"

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
