"""The write/edit modal: category, its guideline, instruction, context, response."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from store.examples import PairText
from store.models import Category

WRITE_CALLBACK = "write_submit"
EDIT_CALLBACK = "edit_submit"
CATEGORY_ACTION = "write_category"
INPUT_MAX = 3000  # Slack's plain_text_input limit
FIELD_BLOCKS = ("instruction", "context", "response")


@dataclass(frozen=True)
class ModalMeta:
    """What the modal is for, kept in private_metadata (ids only, never text)."""

    mode: str = "write"  # write | review | verify
    example_id: int | None = None
    category: str | None = None
    reply_url: str | None = None

    def dumps(self) -> str:
        """JSON for private_metadata (≤ 3000 chars: ids and a response_url only)."""
        return json.dumps({k: v for k, v in self.__dict__.items() if v is not None})

    @classmethod
    def loads(cls, raw: str | None) -> ModalMeta:
        """Read private_metadata back; an empty one is a plain write."""
        data = json.loads(raw) if raw else {}
        return cls(
            **{k: data[k] for k in ("mode", "example_id", "category", "reply_url") if k in data}
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
    domain = f" · _Domain: {escape_mrkdwn(selected.domain)}_" if selected.domain else ""
    blocks.append(
        {
            "type": "section",
            "block_id": "guideline",
            "text": {
                "type": "mrkdwn",
                "text": clip(f"*{escape_mrkdwn(selected.name)}*{domain}\n{guideline}", 3000),
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


def _value(values: dict[str, Any], block: str) -> Any:
    return values.get(block, {}).get(block if block != "category" else CATEGORY_ACTION, {})


def read_text(view: dict[str, Any]) -> PairText:
    """The three texts as typed (missing optional fields are empty)."""
    values = view.get("state", {}).get("values", {})
    parts = [(_value(values, b).get("value") or "") for b in FIELD_BLOCKS]
    return PairText(*parts)


def read_category(view: dict[str, Any]) -> str | None:
    """The selected category slug, if the modal has a category select."""
    values = view.get("state", {}).get("values", {})
    option = _value(values, "category").get("selected_option") or {}
    slug = option.get("value")
    return str(slug) if slug else None


def read_confirmed(view: dict[str, Any]) -> bool:
    """True when the person ticked the confirmation box."""
    values = view.get("state", {}).get("values", {})
    return bool(values.get("confirm", {}).get("confirm", {}).get("selected_options"))


def field_errors(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Map store field names to the modal's input blocks (unknown fields to the instruction)."""
    present = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    out: dict[str, str] = {}
    for name, msg in errors.items():
        block = name if name in present else "instruction"
        out[block] = clip(f"{out[block]} {msg}" if block in out else msg, 2000)
    return out
