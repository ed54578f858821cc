"""Conversation turns in Block Kit: editable turns read back from the state Slack sends, the
Add/Remove rebuild keeping every text, errors on the turn's field, escaped read-only turns."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.fields import BadPayload
from bot.slack.standin.web_api import view_problems
from bot.slack.views.turns import (
    ADD_TURN_ACTION,
    REMOVE_TURN_ACTION,
    read_turns,
    starter_turns,
    turn_display_blocks,
    turn_errors,
    turn_input_blocks,
    view_with_turns,
)
from store.conversations import MAX_TURNS, Turn
from store.enums import TurnRole

U, A, S = TurnRole.USER, TurnRole.ASSISTANT, TurnRole.SYSTEM


def state_of(blocks: list[dict[str, Any]], typed: dict[str, str] | None = None) -> dict[str, Any]:
    """state.values as Slack reports them: initial values unless `typed` says otherwise."""
    typed = typed or {}
    values: dict[str, Any] = {}
    for b in blocks:
        if b.get("type") != "input":
            continue
        el = b["element"]
        if el["type"] == "plain_text_input":
            value = typed.get(b["block_id"], el.get("initial_value"))
            values[b["block_id"]] = {el["action_id"]: {"type": el["type"], "value": value}}
        else:
            option = el["initial_option"]
            if b["block_id"] in typed:
                option = next(o for o in el["options"] if o["value"] == typed[b["block_id"]])
            values[b["block_id"]] = {
                el["action_id"]: {"type": el["type"], "selected_option": option}
            }
    return {"values": values}


def modal(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "write_submit",
        "title": {"type": "plain_text", "text": "Write"},
        "private_metadata": "{}",
        "blocks": blocks,
    }


def test_turns_round_trip_through_the_state_slack_sends() -> None:
    turns = [Turn(S, "Be brief."), Turn(U, "Hi <!channel> & all"), Turn(A, "Hello.")]
    blocks = turn_input_blocks(turns)
    ids = [b.get("block_id") for b in blocks]
    assert ids == ["side_0", "turn_0", "side_1", "turn_1", "side_2", "turn_2", "turn_buttons"]
    # Plain-text boxes show their initial value verbatim: the text is kept as typed.
    assert blocks[3]["element"]["initial_value"] == "Hi <!channel> & all"
    # Only the first turn offers the system side.
    assert {o["value"] for o in blocks[0]["element"]["options"]} == {"user", "assistant", "system"}
    assert {o["value"] for o in blocks[2]["element"]["options"]} == {"user", "assistant"}
    assert read_turns({"state": state_of(blocks)}) == turns
    typed = state_of(blocks, {"turn_2": "Hello there.", "side_0": "user", "side_1": "assistant"})
    assert read_turns(typed) == [
        Turn(U, "Be brief."),
        Turn(A, "Hi <!channel> & all"),
        Turn(A, "Hello there."),
    ]


def test_new_turns_alternate_and_buttons_follow_the_count() -> None:
    blocks = turn_input_blocks(starter_turns())
    assert [t.role for t in read_turns(state_of(blocks))] == [U, A]
    buttons = [e["action_id"] for e in blocks[-1]["elements"]]
    assert buttons == [ADD_TURN_ACTION]  # two turns are the least a conversation has
    full = [Turn(U if i % 2 == 0 else A, f"t{i}") for i in range(MAX_TURNS)]
    blocks = turn_input_blocks(full)
    assert [e["action_id"] for e in blocks[-1]["elements"]] == [REMOVE_TURN_ACTION]
    # 40 turns and a few blocks around them still fit one modal.
    assert view_problems(modal([{"type": "divider"}] * 10 + blocks)) == []


def test_view_with_turns_keeps_every_typed_text() -> None:
    head = {
        "type": "input",
        "block_id": "note",
        "label": {"type": "plain_text", "text": "Note"},
        "element": {"type": "plain_text_input", "action_id": "note"},
    }
    guide = {"type": "section", "text": {"type": "mrkdwn", "text": "guide"}}
    view = modal([head, guide, *turn_input_blocks(starter_turns())])
    view |= {
        "id": "V1",
        "hash": "h",
        "team_id": "T1",
        "state": state_of(
            view["blocks"], {"note": "my note", "turn_0": "question", "turn_1": "answer"}
        ),
    }
    turns = read_turns(view)
    rebuilt = view_with_turns(view, [*turns, Turn(U, "")])
    assert "id" not in rebuilt and "state" not in rebuilt and "hash" not in rebuilt
    assert rebuilt["callback_id"] == "write_submit"
    ids = [b.get("block_id") for b in rebuilt["blocks"]]
    assert ids[:2] == ["note", None] and ids[-1] == "turn_buttons"
    assert rebuilt["blocks"][0]["element"]["initial_value"] == "my note"
    assert read_turns(state_of(rebuilt["blocks"])) == [
        Turn(U, "question"),
        Turn(A, "answer"),
        Turn(U, ""),
    ]
    assert view_problems(rebuilt) == []


def test_errors_land_on_the_turns_box() -> None:
    errors = {"turn_1": "Too long.", "turns": "A conversation ends with the assistant's reply."}
    assert turn_errors(errors, 3) == {
        "turn_1": "Too long.",
        "turn_2": "A conversation ends with the assistant's reply.",
    }
    # Shown in the hint when the view is rebuilt (no response_action to carry them).
    blocks = turn_input_blocks([Turn(U, "a"), Turn(A, "b" * 4000)], {"turn_0": "Empty."})
    assert "Empty." in blocks[1]["hint"]["text"]
    assert "4,000 characters" in blocks[3]["hint"]["text"]
    assert len(blocks[3]["element"]["initial_value"]) == 3000


def test_a_forged_state_is_refused() -> None:
    with pytest.raises(BadPayload):
        read_turns({"values": {"turn_0": {"turn_0": {"value": "a"}}, "turn_2": {}}})
    with pytest.raises(BadPayload):
        read_turns(
            {
                "values": {
                    "turn_0": {"turn_0": {"value": "a"}},
                    "side_0": {"side_0": {"selected_option": {"value": "root"}}},
                }
            }
        )
    with pytest.raises(BadPayload):
        read_turns({"values": {f"turn_{i}": {} for i in range(MAX_TURNS + 1)}})


def test_displayed_turns_are_escaped_and_within_limits() -> None:
    turns = [Turn(U, "<!channel> see <https://evil|here> & <@U123>"), Turn(A, "x" * 5000)]
    blocks = turn_display_blocks(turns)
    first = blocks[0]["text"]["text"]
    assert "<!channel>" not in first and "&lt;!channel&gt;" in first
    assert "&lt;@U123&gt;" in first and "&amp;" in first
    assert "User" in first and "Assistant" in blocks[1]["text"]["text"]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    assert view_problems(modal(blocks)) == []
