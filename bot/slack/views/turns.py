"""Conversation turns in Block Kit: editable turns (a side select and a text box each) for
modals, read back from a view's state, and read-only turns for review messages.

Block ids are stable so the store's errors land on the right field: turn N's text box is
`turn_N` (the key `store.conversations.validate_turns` uses) and its side select `side_N`.
Any modal built with `turn_input_blocks` gets "Add turn" / "Remove last turn" for free:
`view_with_turns` rebuilds it from the view Slack sends with the click, keeping every text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.slack.escape import clip, quote_block
from bot.slack.fields import BadPayload, obj, path, text
from store.conversations import MAX_TURNS, Turn, turn_field
from store.enums import TurnRole

ADD_TURN_ACTION = "turn_add"
REMOVE_TURN_ACTION = "turn_remove"
TURN_BUTTONS_BLOCK = "turn_buttons"
TURNS_ERROR_KEY = "turns"  # validate_turns' key for the conversation as a whole
INPUT_MAX = 3000  # Slack's plain_text_input limit (max_length and initial_value)
SECTION_BUDGET = 2900  # a section's text is at most 3000 characters
# Each turn is two blocks (side, text): MAX_TURNS (40) leaves room in a modal's 100.
SIDE_LABELS = {
    TurnRole.SYSTEM: "System (instructions to the assistant)",
    TurnRole.USER: "User",
    TurnRole.ASSISTANT: "Assistant",
}
SIDE_ICONS = {
    TurnRole.SYSTEM: ":gear: *System*",
    TurnRole.USER: ":bust_in_silhouette: *User*",
    TurnRole.ASSISTANT: ":robot_face: *Assistant*",
}
_TURN_BLOCK = re.compile(r"turn_(\d{1,3})")
_SIDE_BLOCK = re.compile(r"side_\d{1,3}")


def side_block_id(index: int) -> str:
    """The block id of turn `index`'s side select (0-based)."""
    return f"side_{index}"


def turn_block_id(index: int) -> str:
    """The block id of turn `index`'s text box: the store's error key for that turn."""
    return turn_field(index)


def default_side(index: int, first: TurnRole = TurnRole.USER) -> TurnRole:
    """The side a new turn gets: user and assistant alternate, the user first."""
    other = TurnRole.ASSISTANT if first == TurnRole.USER else TurnRole.USER
    return first if index % 2 == 0 else other


def next_side(turns: Sequence[Turn]) -> TurnRole:
    """The side of a turn added after `turns`: the other side of the last one (user first)."""
    if not turns:
        return TurnRole.USER
    return TurnRole.USER if turns[-1].role != TurnRole.USER else TurnRole.ASSISTANT


def starter_turns() -> list[Turn]:
    """The two empty turns a new conversation opens with: the user's, then the assistant's."""
    return [Turn(TurnRole.USER, ""), Turn(TurnRole.ASSISTANT, "")]


def _side_option(role: TurnRole) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": SIDE_LABELS[role]}, "value": role.value}


def _side_block(index: int, role: TurnRole) -> dict[str, Any]:
    # Only the first turn may be a system message (validate_turns), so only it offers one.
    roles = [TurnRole.USER, TurnRole.ASSISTANT]
    if index == 0:
        roles.append(TurnRole.SYSTEM)
    if role not in roles:
        roles.append(role)  # a stored system turn further down stays readable (and flagged)
    return {
        "type": "input",
        "block_id": side_block_id(index),
        "label": {"type": "plain_text", "text": f"Turn {index + 1}: who speaks"},
        "element": {
            "type": "static_select",
            "action_id": side_block_id(index),
            "options": [_side_option(r) for r in roles],
            "initial_option": _side_option(role),
        },
    }


def _text_block(index: int, turn: Turn, error: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": turn_block_id(index),
        "multiline": True,
        "max_length": INPUT_MAX,
        "placeholder": {
            "type": "plain_text",
            "text": "What the user asks or says."
            if turn.role == TurnRole.USER
            else "The reply you would want from the assistant."
            if turn.role == TurnRole.ASSISTANT
            else "Instructions the assistant follows in this conversation.",
        },
    }
    hint = "Write it in your own words; pick the side above."
    if len(turn.text) > INPUT_MAX:
        # Slack's box cannot hold more: say so instead of cutting a person's text silently.
        hint = (
            f":warning: This turn has {len(turn.text):,} characters and Slack's box holds "
            f"{INPUT_MAX:,}: only the start is shown, so saving keeps only that."
        )
    if error:
        hint = f":warning: {error}"
    if turn.text:
        element["initial_value"] = turn.text[:INPUT_MAX]
    return {
        "type": "input",
        "block_id": turn_block_id(index),
        # An empty turn is the validator's to report ("write it or remove it"), on this field.
        "optional": True,
        "label": {"type": "plain_text", "text": f"Turn {index + 1}: text"},
        "hint": {"type": "plain_text", "text": clip(hint, 2000)},
        "element": element,
    }


def turn_buttons_block(count: int) -> dict[str, Any]:
    """ "Add turn" (while under MAX_TURNS) and "Remove last turn" (while more than two)."""
    elements: list[dict[str, Any]] = []
    if count < MAX_TURNS:
        elements.append(
            {
                "type": "button",
                "action_id": ADD_TURN_ACTION,
                "text": {"type": "plain_text", "text": "Add turn"},
                "value": str(count),
            }
        )
    if count > 2:
        elements.append(
            {
                "type": "button",
                "action_id": REMOVE_TURN_ACTION,
                "text": {"type": "plain_text", "text": "Remove last turn"},
                "value": str(count),
            }
        )
    return {"type": "actions", "block_id": TURN_BUTTONS_BLOCK, "elements": elements}


def turn_input_blocks(
    turns: Sequence[Turn],
    errors: Mapping[str, str] | None = None,
    *,
    buttons: bool = True,
) -> list[dict[str, Any]]:
    """Editable turns: a side select and a text box per turn (texts as initial values, which
    Slack shows verbatim, so nothing needs escaping), then the Add/Remove buttons.

    `errors` (keys `turn_N` and `turns`, as validate_turns gives them) are shown in the hints
    of the turns' boxes, for views built outside a `response_action: errors` reply.
    """
    errors = dict(errors or {})
    whole = errors.pop(TURNS_ERROR_KEY, None)
    blocks: list[dict[str, Any]] = []
    shown = turns[:MAX_TURNS]  # a modal holds no more (validate_turns says so on the last)
    for i, turn in enumerate(shown):
        blocks.append(_side_block(i, turn.role))
        error = errors.get(turn_block_id(i))
        if whole and i == len(shown) - 1:
            error = f"{error} {whole}" if error else whole
        blocks.append(_text_block(i, turn, error))
    actions = turn_buttons_block(len(turns))
    if buttons and actions["elements"]:  # an actions block without elements is refused
        blocks.append(actions)
    return blocks


def _index(block_id: str) -> int | None:
    match = _TURN_BLOCK.fullmatch(block_id)
    return int(match.group(1)) if match else None


def finding_label(key: str) -> str:
    """Where a store finding is, for a list of them: "Turn 3: " for turn_2, "" otherwise."""
    index = _index(key)
    return "" if index is None else f"Turn {index + 1}: "


def _values(view_or_state: Any) -> dict[str, Any]:
    doc = obj(view_or_state, "view")
    if "state" in doc:
        doc = obj(doc["state"], "view.state")
    return path(doc, "values")


def read_turns(view_or_state: Any) -> list[Turn]:
    """The turns as typed, in order: from a view Slack sent (or its `state`).

    A turn whose side is missing gets the alternating default; BadPayload when the state is
    not what `turn_input_blocks` makes (a turn beyond MAX_TURNS, a side that is no role).
    """
    values = _values(view_or_state)
    indexes = sorted(i for i in (_index(str(k)) for k in values) if i is not None)
    if indexes and indexes[-1] >= MAX_TURNS:
        raise BadPayload(f"turn {indexes[-1]} is beyond {MAX_TURNS} turns")
    if indexes != list(range(len(indexes))):
        raise BadPayload("the turns are not numbered 0, 1, 2, …")
    turns: list[Turn] = []
    for i in indexes:
        typed = path(values, turn_block_id(i), turn_block_id(i)).get("value")
        chosen = path(values, side_block_id(i), side_block_id(i)).get("selected_option")
        side = text(obj(chosen, "side").get("value"), "side") if chosen else ""
        try:
            role = TurnRole(side) if side else default_side(i)
        except ValueError as exc:
            raise BadPayload(f"side {side[:20]!r} is no role") from exc
        turns.append(Turn(role, text(typed, turn_block_id(i))))
    return turns


def turn_errors(errors: Mapping[str, str], count: int) -> dict[str, str]:
    """Store errors as `response_action: errors` wants them: keyed by the turn's text box
    (the conversation-wide one on the last turn, where the missing reply would go)."""
    out: dict[str, str] = {}
    last = turn_block_id(max(count - 1, 0))
    for name, message in errors.items():
        index = _index(name)
        block = name if index is not None and index < count else last
        out[block] = clip(f"{out[block]} {message}" if block in out else message, 2000)
    return out


def _is_turn_block(block: dict[str, Any]) -> bool:
    bid = str(block.get("block_id") or "")
    return bid == TURN_BUTTONS_BLOCK or _index(bid) is not None or bool(_SIDE_BLOCK.fullmatch(bid))


# The keys views.update accepts; the view Slack sends with a click carries many more (id,
# hash, state, team_id, …) that it would refuse.
_VIEW_KEYS = (
    "type",
    "callback_id",
    "title",
    "submit",
    "close",
    "private_metadata",
    "clear_on_close",
    "notify_on_close",
    "external_id",
)


def _keep_typed(block: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """An input block with what the person typed or chose as its initial value."""
    if block.get("type") != "input" or not isinstance(block.get("element"), dict):
        return block
    element = dict(block["element"])
    state = path(values, str(block.get("block_id")), str(element.get("action_id")))
    kind = element.get("type")
    if kind == "plain_text_input" and "value" in state:
        typed = text(state.get("value"), "value")
        element.pop("initial_value", None)
        if typed:
            element["initial_value"] = typed[:INPUT_MAX]
    elif kind in ("static_select", "radio_buttons") and state.get("selected_option"):
        element["initial_option"] = obj(state["selected_option"], "selected_option")
    elif kind == "checkboxes" and "selected_options" in state:
        chosen = state["selected_options"]
        if not isinstance(chosen, list):
            raise BadPayload("selected_options is not a list")
        element.pop("initial_options", None)
        if chosen:
            element["initial_options"] = chosen
    return {**block, "element": element}


def view_with_turns(view: Any, turns: Sequence[Turn]) -> dict[str, Any]:
    """The view Slack sent with a click, rebuilt with `turns` in place of its turn blocks and
    every other input keeping what the person typed: the argument for views.update."""
    doc = obj(view, "view")
    values = _values(doc)
    blocks = doc.get("blocks")
    if not isinstance(blocks, list):
        raise BadPayload("view.blocks is not a list")
    kept = [_keep_typed(obj(b, "block"), values) for b in blocks]
    at = next((i for i, b in enumerate(kept) if _is_turn_block(b)), len(kept))
    others = [b for b in kept if not _is_turn_block(b)]
    rebuilt = others[:at] + turn_input_blocks(turns) + others[at:]
    return {**{k: doc[k] for k in _VIEW_KEYS if k in doc}, "blocks": rebuilt}


def turn_display_blocks(
    turns: Sequence[Turn], *, budget: int = SECTION_BUDGET, block_prefix: str = "show_turn"
) -> list[dict[str, Any]]:
    """Read-only turns for a message or modal: one section per turn, its side in bold and its
    text quoted and escaped (a `<!channel>` in a turn pings nobody)."""
    blocks: list[dict[str, Any]] = []
    for i, turn in enumerate(turns):
        head = f"{SIDE_ICONS[turn.role]} · turn {i + 1}"
        blocks.append(
            {
                "type": "section",
                "block_id": f"{block_prefix}_{i}",
                "text": {
                    "type": "mrkdwn",
                    "text": head + "\n" + quote_block(turn.text, budget - len(head) - 1),
                },
            }
        )
    return blocks
