"""Stanford Alpaca's layout: one JSON array of {instruction, input, output}, written as it goes."""

from __future__ import annotations

from pathlib import Path

from exporters.formats.base import FormatOptions, OutRow, TextWriter


class AlpacaWriter(TextWriter):
    """A JSON array streamed item by item, so memory does not grow with the row count.

    Single-turn pairs only, as Dolly.
    """

    extension = "json"
    holds_conversations = False

    def __init__(self, path: Path, options: FormatOptions | None = None) -> None:
        super().__init__(path, options)
        self._f.write("[")

    def write(self, row: OutRow) -> None:
        """Append one array item."""
        e = row.encoded
        self._f.write("\n" if self.rows == 0 else ",\n")
        self._f.write(
            f'{{"instruction": {e["instruction"]}, "input": {e["context"]}, '
            f'"output": {e["response"]}, {e["meta"]}}}'
        )
        self.rows += 1

    def close(self) -> None:
        """Close the array and the file."""
        self._f.write("\n]\n")
        super().close()
