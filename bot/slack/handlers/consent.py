"""Allow / Decline on a consent request: the answer is stored before the ack; the request is
then replaced by what it did, and the capturer told when their example moves on or goes."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.slack.fields import identifier, obj
from bot.slack.handlers.common import Deps, acting_user, show
from bot.slack.handlers.listeners import Later, listen
from bot.slack.views.consent import (
    ALLOW_ACTION,
    DECLINE_ACTION,
    answered_blocks,
    answered_text,
)
from store.consents import answer
from store.enums import ConsentStatus, ExampleStatus
from store.types import utcnow


def register(app: App, deps: Deps) -> None:
    """Listeners of the two consent buttons."""

    def record(body: dict[str, Any], context: BoltContext, action: dict[str, Any]) -> Later:
        consent_id = identifier(obj(action, "action").get("value"), "consent id")
        _team, user = acting_user(context, body)
        with deps.session() as s:
            done = answer(
                s,
                consent_id,
                user,
                allow=action["action_id"] == ALLOW_ACTION,
                now=utcnow(),
                gate=deps.gate,
            )
        return {
            "status": done.status.value,
            "example_id": done.example_id,
            "example_status": done.example_status.value,
            "capturer": done.capturer,
            "withdrew": done.withdrew,
        }

    def replace(body: dict[str, Any], client: WebClient, later: Later) -> None:
        status = ConsentStatus(later["status"])
        withdrawn = later["example_status"] == ExampleStatus.REJECTED.value
        text = answered_text(status, withdrawn=withdrawn)
        show(client, body, text=text, blocks=answered_blocks(status, withdrawn=withdrawn))
        capturer, example_id = later["capturer"], later["example_id"]
        if not capturer:
            return
        if later["example_status"] == ExampleStatus.PENDING.value:
            note = (
                f":white_check_mark: Everyone quoted in example #{example_id} allowed: it now "
                "waits for review."
            )
        elif later["withdrew"]:
            note = (
                f":wastebasket: Someone quoted in example #{example_id} declined, so its quoted "
                "text was deleted and it will not be used."
            )
        else:
            return
        client.chat_postMessage(channel=capturer, text=note)

    for action_id in (ALLOW_ACTION, DECLINE_ACTION):
        listen(app.action(action_id), replace, commit=record)
