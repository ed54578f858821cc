"""Parquet through pyarrow, written in row groups so memory stays bounded."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exporters.formats.base import FormatOptions, OutRow, Writer

ROW_GROUP = 10_000

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("context", pa.string(), nullable=False),
        pa.field("response", pa.string(), nullable=False),
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

    def write(self, row: OutRow) -> None:
        """Buffer one row; flush a row group when full."""
        b = self._buf
        b["id"].append(row.id)
        b["instruction"].append(row.instruction)
        b["context"].append(row.context)
        b["response"].append(row.response)
        b["category"].append(row.category)
        b["origin"].append(row.origin)
        b["contributor"].append(row.contributor)
        self.rows += 1
        if len(b["id"]) >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        if self._buf["id"]:
            self._writer.write_table(pa.table(self._buf, schema=SCHEMA))
            self._buf = {name: [] for name in SCHEMA.names}

    def close(self) -> None:
        """Write the last row group and the footer."""
        self._flush()
        self._writer.close()
