"""Stanford Alpaca's layout: one JSON array of {instruction, input, output}, written as it goes."""

from __future__ import annotations

import json
from pathlib import Path

from exporters.formats.base import OutRow, TextWriter


class AlpacaWriter(TextWriter):
    """A JSON array streamed item by item, so memory does not grow with the row count."""

    extension = "json"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._f.write("[")

    def write(self, row: OutRow) -> None:
        """Append one array item."""
        item = {
            "instruction": row.instruction,
            "input": row.context,
            "output": row.response,
            **row.meta(),
        }
        self._f.write("\n" if self.rows == 0 else ",\n")
        self._f.write(json.dumps(item, ensure_ascii=False))
        self.rows += 1

    def close(self) -> None:
        """Close the array and the file."""
        self._f.write("\n]\n")
        super().close()
