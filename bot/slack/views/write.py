"""The write/edit modal: category, its guideline, then a pair (instruction, context,
response) or a conversation (turns, each with its side)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from bot.slack.fields import BadPayload, identifier, json_object, path, text
from bot.slack.views.turns import INPUT_MAX as INPUT_MAX  # Slack's text input limit
from bot.slack.views.turns import (
    TURNS_ERROR_KEY,
    finding_label,
    read_turns,
    starter_turns,
    turn_block_id,
    turn_errors,
    turn_input_blocks,
)
from store.conversations import SIDE_JOIN, Turn, sides
from store.enums import TurnRole
from store.examples import PairText
from store.models import Category

WRITE_CALLBACK = "write_submit"
EDIT_CALLBACK = "edit_submit"
CATEGORY_ACTION = "write_category"
KIND_ACTION = "write_kind"
PAIR, CONVERSATION = "pair", "conversation"
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
    kind: str | None = None  # "conversation" when the modal holds turns; None: a pair
    category: str | None = None
    reply_url: str | None = None
    # Epoch seconds when the task was put in front of the person (modal opened, item shown).
    started: float | None = None

    @property
    def conversation(self) -> bool:
        """True when the modal holds a conversation's turns."""
        return self.kind == CONVERSATION

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
        kind = text(data.get("kind"), "kind") or None
        if kind not in (None, CONVERSATION):
            raise BadPayload(f"kind {kind[:20]!r} is unknown")
        return cls(
            mode=mode,
            example_id=None if example_id is None else identifier(example_id, "example_id"),
            kind=kind,
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


def _kind_block(conversation: bool) -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": "Single example"}, "value": PAIR},
        {
            "text": {"type": "plain_text", "text": "Conversation (several turns)"},
            "value": CONVERSATION,
        },
    ]
    return {
        "type": "input",
        "block_id": "kind",
        "dispatch_action": True,  # choosing one redraws the form (views.update)
        "label": {"type": "plain_text", "text": "What to write"},
        "element": {
            "type": "radio_buttons",
            "action_id": KIND_ACTION,
            "options": options,
            "initial_option": options[1 if conversation else 0],
        },
    }


def _pair_blocks(selected: Category, text: PairText) -> list[dict[str, Any]]:
    ctx_hint = (
        "Required: paste the reference text the answer must come from."
        if selected.needs_context
        else "Optional: only if the instruction refers to a text."
    )
    return [
        _text_input(
            "instruction",
            "Instruction",
            initial=text.instruction,
            optional=False,
            hint="What someone asks the assistant to do.",
            placeholder="e.g. Explain what a compiler does to a new engineer.",
        ),
        _text_input(
            "context",
            "Context (reference text)",
            initial=text.context,
            optional=not selected.needs_context,
            hint=ctx_hint,
            placeholder="Paste a passage you may share.",
        ),
        _text_input(
            "response",
            "Response",
            initial=text.response,
            optional=False,
            hint="The answer you would want a model to give, in your own words.",
            placeholder="Write the ideal response.",
        ),
    ]


def write_modal(
    categories: Sequence[Category],
    selected: Category,
    *,
    meta: ModalMeta | None = None,
    text: PairText | None = None,
    warnings: dict[str, str] | None = None,
    turns: Sequence[Turn] | None = None,
) -> dict[str, Any]:
    """The modal for writing (category select, pair or conversation) or editing (category
    fixed) an example; it holds turns when `meta.kind` is conversation or `turns` are given
    (a new conversation opens with an empty user turn and an empty assistant turn)."""
    meta = meta or ModalMeta(category=selected.slug)
    if turns is not None and not meta.conversation:
        meta = replace(meta, kind=CONVERSATION)
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
        blocks.append(_kind_block(meta.conversation))
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
    if meta.conversation:
        blocks.extend(turn_input_blocks(starter_turns() if turns is None else turns))
    else:
        blocks.extend(_pair_blocks(selected, text or PairText("", "", "")))
    if warnings:
        # A conversation's findings name their turn (the gate keys them turn_N).
        lines = "\n".join(f"• {finding_label(k)}{escape_mrkdwn(v)}" for k, v in warnings.items())
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
    if meta.conversation:
        titles = {
            "write": "Write a conversation",
            "review": "Edit conversation",
            "verify": titles["verify"],
        }
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


def read_kind(action: Any) -> str:
    """The kind chosen with the "What to write" radio buttons: pair or conversation."""
    value = text(path(action, "selected_option").get("value"), "kind")
    if value not in (PAIR, CONVERSATION):
        raise BadPayload(f"kind {value[:20]!r} is unknown")
    return value


def pair_as_turns(text: PairText) -> list[Turn]:
    """A pair's text as the first two turns (its context goes with the user's question), so
    switching a half-written example to a conversation keeps every word."""
    question = SIDE_JOIN.join(t for t in (text.instruction, text.context) if t.strip())
    return [Turn(TurnRole.USER, question), Turn(TurnRole.ASSISTANT, text.response)]


def turns_as_pair(turns: Sequence[Turn]) -> PairText:
    """Turns as a pair's text (user side, system text as context, assistant side), so
    switching a conversation back to a single example keeps every word."""
    user, assistant = sides(turns)
    system = SIDE_JOIN.join(t.text.strip() for t in turns if t.role == TurnRole.SYSTEM)
    return PairText(user, system, assistant)


def _first_of(turns: Sequence[Turn], role: TurnRole) -> str | None:
    return next((turn_block_id(i) for i, t in enumerate(turns) if t.role == role), None)


def field_errors(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Map store field names to the modal's input blocks: a pair's unknown fields go to the
    instruction; in a conversation the turn's own box, the user side's (instruction) to the
    first user turn, the assistant side's (response) to the first assistant turn, the rest to
    the last turn."""
    present = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    if turn_block_id(0) in present:
        turns = read_turns(view)
        sides_at = {
            "instruction": _first_of(turns, TurnRole.USER),
            "response": _first_of(turns, TurnRole.ASSISTANT),
        }
        on_turns: dict[str, str] = {}
        elsewhere: dict[str, str] = {}  # the category's own field
        for name, msg in errors.items():
            if name in present and not name.startswith("turn_"):
                elsewhere[name] = clip(msg, 2000)
                continue
            block = name if name in present else sides_at.get(name) or TURNS_ERROR_KEY
            on_turns[block] = f"{on_turns[block]} {msg}" if block in on_turns else msg
        return {**turn_errors(on_turns, len(turns)), **elsewhere}
    out: dict[str, str] = {}
    for name, msg in errors.items():
        block = name if name in present else "instruction"
        out[block] = clip(f"{out[block]} {msg}" if block in out else msg, 2000)
    return out
