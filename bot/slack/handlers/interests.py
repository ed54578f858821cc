"""App Home's "What do you like to help with?": each person's interests, stored as they pick."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.handlers.common import Deps, acting_person
from bot.slack.views.home import INTERESTS_ACTION
from store.deliveries import claim_delivery
from store.experts import set_interests


def register(app: App, deps: Deps) -> None:
    """The interests multi-select of the Home tab."""

    @app.action(INTERESTS_ACTION)
    def pick(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        # Stored before the ack: a crash after it must not lose what the person picked.
        slugs = [str(o.get("value")) for o in action.get("selected_options") or []]
        with deps.session() as s:
            key = f"action:{body.get('user', {}).get('id')}:{action.get('action_ts')}"
            if claim_delivery(s, key):  # a redelivered click is stored once
                set_interests(s, acting_person(s, context, body), slugs)
        ack()
