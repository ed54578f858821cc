"""The review/verify message (one example with its buttons) and the reject modal."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.slack.escape import escape_mrkdwn, quote_block
from bot.slack.fields import BadPayload, identifier, json_object, path, text
from bot.slack.views.provenance import provenance_blocks
from bot.slack.views.turns import SECTION_BUDGET, turn_display_blocks
from bot.slack.views.write import ModalMeta
from store.conversations import turns_of
from store.enums import ExampleKind, ExampleStatus
from store.models import Example
from store.quality.injection import PROMPT_INJECTION

REJECT_CALLBACK = "reject_submit"
RATE_ACTION = "review_rate"
MAX_SKIPS_KEPT = 30  # button values are ≤ 2000 characters
MAX_EPOCH = 32_503_680_000  # the year 3000: beyond it a "shown at" time is junk
INJECTION_WARNING = (
    ":warning: *Flagged:* this draft contains text aimed at the model or at readers "
    "(instructions to ignore rules, or mentions/links); such markup is shown escaped. "
    "Reject it unless it is really part of the task."
)


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def button_value(example_id: int, skipped: list[int], shown: float | None = None) -> str:
    """The example id, the ids skipped so far and when it was shown, as a button value."""
    data: dict[str, Any] = {"id": example_id, "skip": skipped[-MAX_SKIPS_KEPT:]}
    if shown is not None:
        data["t"] = round(shown, 3)
    return json.dumps(data)


def read_button_value(raw: Any) -> tuple[int, list[int]]:
    """(example id, skipped ids) from a button value; BadPayload when it is not ours."""
    data = json_object(raw, "button value")
    skipped = data.get("skip") or []
    if not isinstance(skipped, list) or len(skipped) > MAX_SKIPS_KEPT:
        raise BadPayload("button value skip is not a short list")
    return identifier(data.get("id"), "button value id"), [
        identifier(i, "skipped id") for i in skipped
    ]


def read_shown(raw: Any) -> float | None:
    """When the example in this button's message was shown (epoch seconds), if recorded; a
    value that is no plausible time is ignored (timing is a measurement, not input)."""
    shown = json_object(raw, "button value").get("t")
    if isinstance(shown, bool) or not isinstance(shown, int | float):
        return None
    return float(shown) if 0 < shown < MAX_EPOCH else None


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def example_blocks(
    example: Example, *, skipped: list[int] | None = None, shown: float | None = None
) -> list[dict[str, Any]]:
    """One example to review (pending) or verify (AI draft), with its buttons.

    `shown` (epoch seconds) rides in the button value, so the verdict knows how long it took.
    """
    skipped = list(skipped or [])
    value = button_value(example.id, skipped, time.time() if shown is None else shown)
    draft = example.status == ExampleStatus.DRAFT
    cat = escape_mrkdwn(example.category.name)
    if draft:
        model = escape_mrkdwn(example.llm_model or "an LLM")
        head = (
            f":robot_face: *AI draft to verify* · {cat}\n"
            f"Written by {model}, not by a person. Is it correct and helpful?"
        )
        if PROMPT_INJECTION in (example.flags or []):
            head += f"\n{INJECTION_WARNING}"
    else:
        head = f":mag: *Review* · {cat} · reviewed {example.review_count} time(s) so far"
    if example.kind == ExampleKind.CONVERSATION:
        head += f"\n_A conversation of {len(example.turns)} turns: judge every turn._"
    blocks = [_section(head, "head"), *provenance_blocks(example), *text_blocks(example)]
    if draft:
        buttons = [
            _button("Looks right", "verify_ok", value, "primary"),
            _button("Edit", "verify_edit", value),
            _button("Reject", "verify_reject", value, "danger"),
            _button("Skip", "verify_skip", value),
        ]
    else:
        blocks.append(
            {
                "type": "actions",
                "block_id": "rating",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": RATE_ACTION,
                        "placeholder": {"type": "plain_text", "text": "Rate 1–5 (optional)"},
                        "options": [
                            {"text": {"type": "plain_text", "text": "★" * n}, "value": str(n)}
                            for n in range(1, 6)
                        ],
                    }
                ],
            }
        )
        buttons = [
            _button("Approve", "review_approve", value, "primary"),
            _button("Edit", "review_edit", value),
            _button("Reject", "review_reject", value, "danger"),
            _button("Skip", "review_skip", value),
        ]
    blocks.append({"type": "actions", "block_id": "decide", "elements": buttons})
    return blocks


def text_blocks(example: Example) -> list[dict[str, Any]]:
    """The example's text, escaped: a conversation's every turn, or a pair's three fields."""
    if example.kind == ExampleKind.CONVERSATION:
        return turn_display_blocks(turns_of(example))
    blocks = [
        _section(
            "*Instruction*\n" + quote_block(example.instruction, SECTION_BUDGET), "instruction"
        )
    ]
    if example.context.strip():
        blocks.append(
            _section("*Context*\n" + quote_block(example.context, SECTION_BUDGET), "context")
        )
    blocks.append(
        _section("*Response*\n" + quote_block(example.response, SECTION_BUDGET), "response")
    )
    return blocks


def read_rating(state: Any) -> int | None:
    """The optional 1–5 rating chosen in the message, if any (BadPayload when not 1–5)."""
    chosen = path(state, "values", "rating", RATE_ACTION)
    value = text(path(chosen, "selected_option").get("value"), "rating")
    if not value:
        return None
    if value not in {"1", "2", "3", "4", "5"}:
        raise BadPayload(f"rating {value[:20]!r} is not 1-5")
    return int(value)


def nothing_to_review_blocks(note: str = "") -> list[dict[str, Any]]:
    """Shown when nobody's example is waiting for this person."""
    text = ":tada: Nothing is waiting for your review right now. Thank you!"
    return [_section(f"{note}\n{text}".strip())]


def reject_modal(meta: ModalMeta) -> dict[str, Any]:
    """Asks why (the writer learns from it)."""
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "title": {
            "type": "plain_text",
            "text": "Reject AI draft" if meta.mode == "verify" else "Reject example",
        },
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta.dumps(),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why?"},
                "hint": {
                    "type": "plain_text",
                    "text": "One sentence is enough: wrong, unclear, unsafe, copied…",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        ],
    }


def read_reason(view: Any) -> str:
    """The rejection reason typed in the modal."""
    return text(path(view, "state", "values", "reason", "reason").get("value"), "reason")
