"""Line-per-example formats: Dolly, OpenAI chat fine-tuning, ShareGPT."""

from __future__ import annotations

from typing import Any

from exporters.formats.base import JsonLinesWriter, OutRow


class DollyWriter(JsonLinesWriter):
    """databricks-dolly-15k's layout: instruction, context, response, category."""

    def record(self, row: OutRow) -> dict[str, Any]:
        """Dolly's four fields, then provenance."""
        return {
            "instruction": row.instruction,
            "context": row.context,
            "response": row.response,
            **row.meta(),
        }


class OpenAIChatWriter(JsonLinesWriter):
    """OpenAI chat fine-tuning lines: a user turn (instruction + context), an assistant turn.

    Provenance goes under `metadata`, beside `messages`, so the messages stay exactly as the
    fine-tuning API checks them.
    """

    def record(self, row: OutRow) -> dict[str, Any]:
        """`messages` plus `metadata`."""
        return {
            "messages": [
                {"role": "user", "content": row.user_turn()},
                {"role": "assistant", "content": row.response},
            ],
            "metadata": row.meta(),
        }


class ShareGPTWriter(JsonLinesWriter):
    """ShareGPT conversations (human/gpt turns), as FastChat, Axolotl and LLaMA-Factory read."""

    def record(self, row: OutRow) -> dict[str, Any]:
        """`conversations` plus provenance."""
        return {
            "conversations": [
                {"from": "human", "value": row.user_turn()},
                {"from": "gpt", "value": row.response},
            ],
            **row.meta(),
        }
