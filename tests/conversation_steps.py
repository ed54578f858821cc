"""A person's steps with a conversation in Slack, as signed requests against the stand-in: open
the write form, type turns, add turns, switch kind, submit, review. Views come back as the
stand-in holds them (its id and hash), so each views.update must fit the one before."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from bot.slack.standin.web_api import SlackDouble
from bot.slack.views.turns import ADD_TURN_ACTION
from bot.slack.views.write import KIND_ACTION
from store.conversations import Turn
from tests.slack_fixtures import blocks_of
from tests.slack_requests import Reply, SlackApp, click_payload, fill

View = dict[str, Any]


def live_view(double: SlackDouble, method: str, count: int) -> View:
    """The view the stand-in answered the `count`-th call of `method` with (id, hash, blocks)."""
    call = double.wait_for(method, count)[count - 1]
    assert call.reply.get("ok"), call.reply
    view: View = call.reply["view"]
    return view


def open_write(slack: SlackApp, user: str, text: str = "write conversation") -> View:
    """`/crowdtune TEXT` and the modal it opened."""
    before = len(slack.double.calls_to("views.open"))
    reply = slack.command(user, text)
    assert reply.status == 200 and not reply.body.strip()
    return live_view(slack.double, "views.open", before + 1)


def typed_turns(view: View, turns: Sequence[Turn]) -> View:
    """The view with these turns typed into its boxes and chosen in its side selects."""
    typed: dict[str, str] = {}
    for i, turn in enumerate(turns):
        typed[f"turn_{i}"] = turn.text
        typed[f"side_{i}"] = turn.role.value
    return fill(view, typed=typed)


def click_in_view(slack: SlackApp, user: str, view: View, action_id: str) -> View:
    """A button click inside the modal (its state sent along) and the views.update it caused."""
    before = len(slack.double.calls_to("views.update"))
    assert slack.click(user, action_id, view=view).status == 200
    return live_view(slack.double, "views.update", before + 1)


def choose_kind(slack: SlackApp, user: str, view: View, kind: str) -> View:
    """The "What to write" radio buttons set to `kind`, and the redrawn modal."""
    before = len(slack.double.calls_to("views.update"))
    payload = click_payload(slack.double, user, KIND_ACTION, view=view)
    payload["actions"] = [
        {
            "type": "radio_buttons",
            "action_id": KIND_ACTION,
            "block_id": "kind",
            "selected_option": {"value": kind},
            "action_ts": f"{time.time():.6f}",
        }
    ]
    assert slack.interact(payload).status == 200
    return live_view(slack.double, "views.update", before + 1)


def write_turns(slack: SlackApp, user: str, view: View, turns: Sequence[Turn]) -> View:
    """Type `turns` into the modal, pressing "Add turn" until it has a box for each; returns
    the view filled with all of them, ready to submit."""
    count = sum(1 for b in view["blocks"] if re.fullmatch(r"turn_\d+", str(b.get("block_id"))))
    while count < len(turns):
        view = click_in_view(slack, user, typed_turns(view, turns[:count]), ADD_TURN_ACTION)
        count += 1
    return typed_turns(view, turns)


def submit(slack: SlackApp, user: str, view: View) -> Reply:
    """Submit the modal as filled."""
    return slack.submit(user, view)


def replies(double: SlackDouble) -> int:
    """How many response_url replies the stand-in has received."""
    return sum(c.method.startswith("response_url:") for c in double.calls)


def wait_reply(double: SlackDouble, count: int) -> dict[str, Any]:
    """The args of the `count`-th response_url reply, once it arrived."""
    with double._lock:
        ok = double._lock.wait_for(lambda: replies(double) >= count, timeout=10)
    assert ok, double.methods()
    return [c for c in double.calls if c.method.startswith("response_url:")][count - 1].args


def review(slack: SlackApp, user: str) -> list[dict[str, Any]]:
    """`/crowdtune review` and the blocks of the example it showed."""
    n = replies(slack.double)
    assert slack.command(user, "review").status == 200
    return blocks_of(wait_reply(slack.double, n + 1))


def click(slack: SlackApp, user: str, action: str, value: str) -> dict[str, Any]:
    """A button in a review message, and the reply that replaced it."""
    n = replies(slack.double)
    assert slack.click(user, action, value).status == 200
    return wait_reply(slack.double, n + 1)
