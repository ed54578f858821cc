"""App Home and the shortcut buttons (Home tab and nudges): Write, Review, Snooze."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.slack.fields import BadPayload, text
from bot.slack.handlers.common import Deps, acting_person, acting_user, reading_as, show
from bot.slack.handlers.listeners import Later, listen
from bot.slack.handlers.review import next_message
from bot.slack.handlers.write import open_write_modal
from bot.slack.views.home import WRITE_CONVERSATION_ACTION, home_view
from store.contributors import snooze
from store.deliveries import claim_delivery
from store.examples import latest_by_author
from store.experts import interest_slugs
from store.models import Contributor
from store.stats import category_counts, leaderboard, personal_counts
from store.types import utcnow

SNOOZE_DAYS = 7
HOME_LEADERS = 5


def render_home(session: Session, me: Contributor) -> dict[str, Any]:
    """The Home tab for `me`: every read App Home makes per open (bench/scale_bench times it)."""
    return home_view(
        personal_counts(session, me),
        category_counts(session),
        leaderboard(session, limit=HOME_LEADERS),
        interests=interest_slugs(session, me),
        latest=latest_by_author(session, me),
    )


def register(app: App, deps: Deps) -> None:
    """Home tab event and shortcut buttons."""

    def home_opened(
        body: dict[str, Any],
        event: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        logger: logging.Logger,
    ) -> None:
        if event.get("tab") not in (None, "home"):
            return
        user = text(event.get("user"), "event.user")
        if not user:
            raise BadPayload("app_home_opened names no user")
        with deps.session() as s:
            # Slack redelivers unacknowledged events (X-Slack-Retry-Num): handle each once.
            if not claim_delivery(s, f"event:{body.get('event_id') or event.get('event_ts')}"):
                logger.info("event %s already handled", body.get("event_id"))
                return
            view = render_home(s, acting_person(s, context, {"user": {"id": user}}))
        client.views_publish(user_id=user, view=view)

    # Nothing the person changes: the event is acked at once and the Home tab built after.
    listen(app.event("app_home_opened"), home_opened)

    def open_write(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        slug = action.get("value") or None
        user = acting_user(context, body)
        conversation = action.get("action_id") == WRITE_CONVERSATION_ACTION
        open_write_modal(
            deps, client, body["trigger_id"], slug, user=user, conversation=conversation
        )

    listen(app.action("open_write"), open_write)
    listen(app.action(WRITE_CONVERSATION_ACTION), open_write)

    def open_review(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        me_id = reading_as(deps, context, body)
        with deps.reading() as s:
            me = s.get_one(Contributor, me_id)
            text, blocks = next_message(s, me, drafts_first=action.get("value") == "draft")
        # From the Home tab there is no message to replace: the example comes by DM.
        show(client, body, text=text, blocks=blocks, replace=False)

    listen(app.action("open_review"), open_review)

    def snooze_reminders(body: dict[str, Any], context: BoltContext) -> Later:
        with deps.session() as s:
            snooze(s, acting_person(s, context, body), utcnow() + timedelta(days=SNOOZE_DAYS))
        return {}

    def snoozed(body: dict[str, Any], client: WebClient) -> None:
        show(client, body, text=f"Okay, no reminders for {SNOOZE_DAYS} days. :zzz:")

    listen(app.action("snooze"), snoozed, commit=snooze_reminders)
