"""The write/edit modal: category, its guideline, instruction, context, response."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from bot.slack.fields import BadPayload, identifier, json_object, path, text
from store.examples import PairText
from store.models import Category

WRITE_CALLBACK = "write_submit"
EDIT_CALLBACK = "edit_submit"
CATEGORY_ACTION = "write_category"
INPUT_MAX = 3000  # Slack's plain_text_input limit
FIELD_BLOCKS = ("instruction", "context", "response")


def epoch_to_utc(seconds: float | None) -> datetime | None:
    """Epoch seconds (from a modal's metadata or a button's value) as aware UTC, or None."""
    # Anything but a plausible time (a forged 1e30, NaN) is no time at all.
    if not isinstance(seconds, int | float) or not 0 < seconds < 32_503_680_000:
        return None
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class ModalMeta:
    """What the modal is for, kept in private_metadata (ids only, never text)."""

    mode: str = "write"  # write | review | verify
    example_id: int | None = None
    category: str | None = None
    reply_url: str | None = None
    # Epoch seconds when the task was put in front of the person (modal opened, item shown).
    started: float | None = None

    @property
    def started_at(self) -> datetime | None:
        """`started` as an aware UTC datetime."""
        return epoch_to_utc(self.started)

    def dumps(self) -> str:
        """JSON for private_metadata (≤ 3000 chars: ids and a response_url only)."""
        return json.dumps({k: v for k, v in self.__dict__.items() if v is not None})

    @classmethod
    def loads(cls, raw: Any) -> ModalMeta:
        """Read private_metadata back (an empty one is a plain write); BadPayload when it is
        not what `dumps` wrote."""
        data = json_object(raw, "private_metadata")
        mode = text(data.get("mode"), "mode", default="write")
        if mode not in ("write", "review", "verify"):
            raise BadPayload(f"mode {mode[:20]!r} is unknown")
        example_id = data.get("example_id")
        started = data.get("started")
        return cls(
            mode=mode,
            example_id=None if example_id is None else identifier(example_id, "example_id"),
            category=text(data.get("category"), "category") or None,
            reply_url=text(data.get("reply_url"), "reply_url") or None,
            # A started time that is not a number is ignored: timing is a measurement, not input.
            started=started
            if isinstance(started, int | float) and not isinstance(started, bool)
            else None,
        )


def _text_input(
    block_id: str, label: str, *, initial: str, optional: bool, hint: str, placeholder: str
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "multiline": True,
        "max_length": INPUT_MAX,
        "placeholder": {"type": "plain_text", "text": placeholder},
    }
    if initial:
        element["initial_value"] = initial[:INPUT_MAX]
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "hint": {"type": "plain_text", "text": hint},
        "element": element,
    }


def _option(cat: Category) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": clip(cat.name, 75)}, "value": cat.slug}


def write_modal(
    categories: Sequence[Category],
    selected: Category,
    *,
    meta: ModalMeta | None = None,
    text: PairText | None = None,
    warnings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The modal for writing (category select) or editing (category fixed) an example."""
    meta = meta or ModalMeta(category=selected.slug)
    text = text or PairText("", "", "")
    blocks: list[dict[str, Any]] = []
    if meta.mode == "write":
        blocks.append(
            {
                "type": "input",
                "block_id": "category",
                "dispatch_action": True,
                "label": {"type": "plain_text", "text": "Category"},
                "element": {
                    "type": "static_select",
                    "action_id": CATEGORY_ACTION,
                    "options": [_option(c) for c in categories],
                    "initial_option": _option(selected),
                },
            }
        )
    guideline = escape_mrkdwn(selected.guideline) or "_No guideline for this category yet._"
    blocks.append(
        {
            "type": "section",
            "block_id": "guideline",
            "text": {
                "type": "mrkdwn",
                "text": clip(f"*{escape_mrkdwn(selected.name)}*\n{guideline}", 3000),
            },
        }
    )
    blocks.append(
        _text_input(
            "instruction",
            "Instruction",
            initial=text.instruction,
            optional=False,
            hint="What someone asks the assistant to do.",
            placeholder="e.g. Explain what a compiler does to a new engineer.",
        )
    )
    ctx_hint = (
        "Required: paste the reference text the answer must come from."
        if selected.needs_context
        else "Optional: only if the instruction refers to a text."
    )
    blocks.append(
        _text_input(
            "context",
            "Context (reference text)",
            initial=text.context,
            optional=not selected.needs_context,
            hint=ctx_hint,
            placeholder="Paste a passage you may share.",
        )
    )
    blocks.append(
        _text_input(
            "response",
            "Response",
            initial=text.response,
            optional=False,
            hint="The answer you would want a model to give, in your own words.",
            placeholder="Write the ideal response.",
        )
    )
    if warnings:
        lines = "\n".join(f"• {escape_mrkdwn(v)}" for v in warnings.values())
        blocks.append(
            {
                "type": "section",
                "block_id": "warnings",
                "text": {
                    "type": "mrkdwn",
                    "text": clip(f":warning: *Please check:*\n{lines}", 3000),
                },
            }
        )
        blocks.append(
            {
                "type": "input",
                "block_id": "confirm",
                "label": {"type": "plain_text", "text": "Confirm"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "confirm",
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": "I checked this; submit anyway"},
                            "value": "yes",
                        }
                    ],
                },
            }
        )
    titles = {"write": "Write an example", "review": "Edit example", "verify": "Edit AI draft"}
    return {
        "type": "modal",
        "callback_id": WRITE_CALLBACK if meta.mode == "write" else EDIT_CALLBACK,
        "title": {"type": "plain_text", "text": titles.get(meta.mode, "Example")},
        "submit": {"type": "plain_text", "text": "Submit" if meta.mode == "write" else "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta.dumps(),
        "blocks": blocks,
    }


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    action = block if block != "category" else CATEGORY_ACTION
    return path(values, block, action)


def read_text(view: Any) -> PairText:
    """The three texts as typed (missing optional fields are empty)."""
    values = path(view, "state", "values")
    parts = [text(_value(values, b).get("value"), b) for b in FIELD_BLOCKS]
    return PairText(*parts)


def read_category(view: Any) -> str | None:
    """The selected category slug, if the modal has a category select."""
    values = path(view, "state", "values")
    option = path(_value(values, "category"), "selected_option")
    return text(option.get("value"), "category") or None


def read_confirmed(view: Any) -> bool:
    """True when the person ticked the confirmation box."""
    chosen = path(view, "state", "values", "confirm", "confirm").get("selected_options")
    if chosen is not None and not isinstance(chosen, list):
        raise BadPayload("selected_options is not a list")
    return bool(chosen)


def field_errors(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Map store field names to the modal's input blocks (unknown fields to the instruction)."""
    present = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    out: dict[str, str] = {}
    for name, msg in errors.items():
        block = name if name in present else "instruction"
        out[block] = clip(f"{out[block]} {msg}" if block in out else msg, 2000)
    return out
