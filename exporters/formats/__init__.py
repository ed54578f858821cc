"""Dataset file formats: one writer class per format name."""

from __future__ import annotations

from exporters.formats.alpaca import AlpacaWriter
from exporters.formats.base import FormatOptions, OutRow, Writer
from exporters.formats.jsonl import DollyWriter, OpenAIChatWriter, ShareGPTWriter
from exporters.formats.parquet import ParquetWriter

WRITERS: dict[str, type[Writer]] = {
    "dolly": DollyWriter,
    "alpaca": AlpacaWriter,
    "openai": OpenAIChatWriter,
    "sharegpt": ShareGPTWriter,
    "parquet": ParquetWriter,
}

__all__ = ["WRITERS", "FormatOptions", "OutRow", "Writer"]
