"""Parquet through pyarrow, written in row groups so memory stays bounded.

Every row has `messages` (the chat turns, as the OpenAI file holds them); pairs also fill the
flat `instruction`, `context` and `response` columns, which are null for conversations.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exporters.formats.base import PAIR, FormatOptions, OutRow, Writer

ROW_GROUP = 10_000

MESSAGE = pa.struct(
    [
        pa.field("role", pa.string(), nullable=False),
        pa.field("content", pa.string(), nullable=False),
    ]
)

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("messages", pa.list_(pa.field("item", MESSAGE, nullable=False)), nullable=False),
        pa.field("instruction", pa.string()),
        pa.field("context", pa.string()),
        pa.field("response", pa.string()),
        pa.field("category", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("contributor", pa.string()),
    ]
)


class ParquetWriter(Writer):
    """Buffers up to ROW_GROUP rows, then writes them as one row group."""

    extension = "parquet"

    def __init__(
        self, path: Path, options: FormatOptions | None = None, *, row_group: int = ROW_GROUP
    ) -> None:
        super().__init__(path, options)
        self._row_group = row_group
        self._writer = pq.ParquetWriter(str(path), SCHEMA, compression="zstd")
        self._buf: dict[str, list[object]] = {name: [] for name in SCHEMA.names}
        # `messages` is kept flat (roles, contents, list offsets) and built as one Arrow
        # array per row group: converting a dict per turn costs more than the rest of a row.
        self._roles: list[str] = []
        self._contents: list[str] = []
        self._offsets: list[int] = [0]
        system = self.options.system_prompt
        self._system = system or ""

    def write(self, row: OutRow) -> None:
        """Buffer one row; flush a row group when full."""
        b = self._buf
        b["id"].append(row.id)
        b["kind"].append(row.kind)
        roles, contents = self._roles, self._contents
        if self._system and not row.has_system_turn():
            roles.append("system")
            contents.append(self._system)
        if row.kind == PAIR:  # the common case, without building a list of turns
            roles += ("user", "assistant")
            contents += (row.user_turn(), row.response)
        else:
            for role, content in row.turns:
                roles.append(role)
                contents.append(content)
        self._offsets.append(len(roles))
        pair = row.kind == PAIR
        b["instruction"].append(row.instruction if pair else None)
        b["context"].append(row.context if pair else None)
        b["response"].append(row.response if pair else None)
        b["category"].append(row.category)
        b["origin"].append(row.origin)
        b["contributor"].append(row.contributor)
        self.rows += 1
        if len(b["id"]) >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        if self._buf["id"]:
            turns = pa.StructArray.from_arrays(
                [pa.array(self._roles, pa.string()), pa.array(self._contents, pa.string())],
                fields=list(MESSAGE),
            )
            offsets = pa.array(self._offsets, pa.int32())
            self._buf["messages"] = pa.ListArray.from_arrays(
                offsets, turns, type=SCHEMA.field("messages").type
            )
            self._writer.write_table(pa.table(self._buf, schema=SCHEMA))
            self._buf = {name: [] for name in SCHEMA.names}
            self._roles, self._contents, self._offsets = [], [], [0]

    def close(self) -> None:
        """Write the last row group and the footer."""
        self._flush()
        self._writer.close()
