"""App Home and the shortcut buttons (Home tab and nudges): Write, Review, Snooze."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.slack.handlers.common import Deps, acting_person, acting_user, lazily, show
from bot.slack.handlers.review import next_message
from bot.slack.handlers.write import open_write_modal
from bot.slack.views.home import home_view
from store.contributors import snooze
from store.deliveries import claim_delivery
from store.experts import interest_slugs
from store.stats import category_counts, leaderboard, personal_counts
from store.types import utcnow

SNOOZE_DAYS = 7


def register(app: App, deps: Deps) -> None:
    """Home tab event and shortcut buttons."""

    @lazily(app.event("app_home_opened"))
    def home_opened(
        body: dict[str, Any],
        event: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        logger: logging.Logger,
    ) -> None:
        if event.get("tab") not in (None, "home"):
            return
        with deps.session() as s:
            # Slack redelivers unacknowledged events (X-Slack-Retry-Num): handle each once.
            if not claim_delivery(s, f"event:{body.get('event_id') or event.get('event_ts')}"):
                logger.info("event %s already handled", body.get("event_id"))
                return
            me = acting_person(s, context, {"user": {"id": event["user"]}})
            view = home_view(
                personal_counts(s, me),
                category_counts(s),
                leaderboard(s, limit=5),
                interests=interest_slugs(s, me),
            )
        client.views_publish(user_id=event["user"], view=view)

    @lazily(app.action("open_write"))
    def open_write(
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        slug = action.get("value") or None
        user = acting_user(context, body)
        open_write_modal(deps, client, body["trigger_id"], slug, user=user)

    @lazily(app.action("open_review"))
    def open_review(
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
    ) -> None:
        ack()
        with deps.session() as s:
            me = acting_person(s, context, body)
            text, blocks = next_message(s, me, drafts_first=action.get("value") == "draft")
        # From the Home tab there is no message to replace: the example comes by DM.
        show(client, body, respond, text=text, blocks=blocks, replace=False)

    @lazily(app.action("snooze"))
    def snooze_button(
        ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        ack()
        with deps.session() as s:
            snooze(s, acting_person(s, context, body), utcnow() + timedelta(days=SNOOZE_DAYS))
        show(client, body, respond, text=f"Okay, no reminders for {SNOOZE_DAYS} days. :zzz:")
