"""App Home's "What do you like to help with?": each person's interests, stored as they pick."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.slack.handlers.common import Deps, acting_person
from bot.slack.handlers.listeners import Later, listen
from bot.slack.views.home import INTERESTS_ACTION
from store.deliveries import claim_delivery
from store.experts import set_interests


def register(app: App, deps: Deps) -> None:
    """The interests multi-select of the Home tab."""

    def pick(body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> Later:
        slugs = [str(o.get("value")) for o in action.get("selected_options") or []]
        with deps.session() as s:
            key = f"action:{body.get('user', {}).get('id')}:{action.get('action_ts')}"
            if claim_delivery(s, key):  # a redelivered pick is stored once
                set_interests(s, acting_person(s, context, body), slugs)
        return {}

    def picked() -> None:
        """Nothing more to say: the select in the Home tab already shows the choice."""

    listen(app.action(INTERESTS_ACTION), picked, commit=pick)
