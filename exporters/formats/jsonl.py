"""Line-per-example formats: Dolly, OpenAI chat fine-tuning, ShareGPT.

Lines are assembled from the row's once-encoded JSON strings (see OutRow.encoded), so
writing five formats does not JSON-encode each text five times.
"""

from __future__ import annotations

from exporters.formats.base import JsonLinesWriter, OutRow


class DollyWriter(JsonLinesWriter):
    """databricks-dolly-15k's layout: instruction, context, response, category (+ provenance)."""

    def line(self, row: OutRow) -> str:
        """Dolly's fields, then id, origin and contributor."""
        e = row.encoded
        return (
            f'{{"instruction": {e["instruction"]}, "context": {e["context"]}, '
            f'"response": {e["response"]}, {e["meta"]}}}'
        )


class OpenAIChatWriter(JsonLinesWriter):
    """OpenAI chat fine-tuning lines: a user turn (instruction + context), an assistant turn.

    Provenance goes under `metadata`, beside `messages`, so the messages stay exactly as the
    fine-tuning API checks them.
    """

    def line(self, row: OutRow) -> str:
        """`messages` plus `metadata`."""
        e = row.encoded
        return (
            f'{{"messages": [{{"role": "user", "content": {e["user"]}}}, '
            f'{{"role": "assistant", "content": {e["response"]}}}], '
            f'"metadata": {{{e["meta"]}}}}}'
        )


class ShareGPTWriter(JsonLinesWriter):
    """ShareGPT conversations (human/gpt turns), as FastChat, Axolotl and LLaMA-Factory read."""

    def line(self, row: OutRow) -> str:
        """`conversations` plus provenance."""
        e = row.encoded
        return (
            f'{{"conversations": [{{"from": "human", "value": {e["user"]}}}, '
            f'{{"from": "gpt", "value": {e["response"]}}}], {e["meta"]}}}'
        )
