"""Line-per-example formats: Dolly, OpenAI chat fine-tuning, ShareGPT.

Lines are assembled from the row's once-encoded JSON strings (see OutRow.encoded), so
writing five formats does not JSON-encode each text five times.
"""

from __future__ import annotations

from pathlib import Path

from exporters.formats.base import BUFFER_BYTES, FormatOptions, JsonLinesWriter, OutRow, enc


class DollyWriter(JsonLinesWriter):
    """databricks-dolly-15k's layout: instruction, context, response, category (+ provenance).

    Single-turn pairs only: a conversation of one exchange is its user turn and the reply.
    """

    holds_conversations = False

    def line(self, row: OutRow) -> str:
        """Dolly's fields, then id, origin and contributor."""
        e = row.encoded
        return (
            f'{{"instruction": {e["instruction"]}, "context": {e["context"]}, '
            f'"response": {e["response"]}, {e["meta"]}}}'
        )


class OpenAIChatWriter(JsonLinesWriter):
    """OpenAI chat fine-tuning lines: an optional system turn, the user turn (instruction +
    context) and the assistant turn, or every turn of a conversation; nothing but `messages`
    at the top level. A conversation with its own system turn keeps it instead of the export's.

    OpenAI's per-line schema lists no other key, so our provenance goes to a sidecar,
    `{split}.meta.jsonl`, one line per line of the data file, in the same order.
    """

    def __init__(self, path: Path, options: FormatOptions | None = None) -> None:
        super().__init__(path, options)
        self.meta_path = path.with_name(f"{path.stem}.meta.jsonl")
        self._meta = self.meta_path.open(
            "w", encoding="utf-8", newline="\n", buffering=BUFFER_BYTES
        )
        system = self.options.system_prompt
        self._system = f'{{"role": "system", "content": {enc(system)}}}, ' if system else ""

    def line(self, row: OutRow) -> str:
        """`messages` only."""
        system = "" if row.has_system_turn() else self._system
        return f'{{"messages": [{system}{row.chat_json()}]}}'

    def write(self, row: OutRow) -> None:
        """The data line, and its provenance on the same line number of the sidecar."""
        super().write(row)
        self._meta.write(f"{{{row.encoded['meta']}}}\n")

    def outputs(self) -> dict[Path, int]:
        """The data file and its sidecar, each with one line per row."""
        return {self.path: self.rows, self.meta_path: self.rows}

    def close(self) -> None:
        """Close both files."""
        try:
            super().close()
        finally:
            self._meta.close()


class ShareGPTWriter(JsonLinesWriter):
    """ShareGPT conversations (human/gpt turns, a first `system` turn when a system prompt is
    given or the conversation has one), every turn of a conversation, as FastChat, Axolotl
    and LLaMA-Factory read them."""

    def __init__(self, path: Path, options: FormatOptions | None = None) -> None:
        super().__init__(path, options)
        system = self.options.system_prompt
        self._system = f'{{"from": "system", "value": {enc(system)}}}, ' if system else ""

    def line(self, row: OutRow) -> str:
        """`conversations` plus provenance."""
        system = "" if row.has_system_turn() else self._system
        return f'{{"conversations": [{system}{row.sharegpt_json()}], {row.encoded["meta"]}}}'
