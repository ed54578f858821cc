"""Writing: open the modal, switch category, submit (errors come back on the right field)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.slack.errors import friendly
from bot.slack.escape import escape_mrkdwn
from bot.slack.handlers.common import (
    Deps,
    SuggestedCategory,
    acting_person,
    after_ack,
    lazily,
    leave_for_later,
)
from bot.slack.views.write import (
    CATEGORY_ACTION,
    WRITE_CALLBACK,
    ModalMeta,
    field_errors,
    read_category,
    read_confirmed,
    read_text,
    write_modal,
)
from store.assignments import complete_open
from store.categories import get_category, list_categories
from store.enums import AssignmentKind
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import count_by_author, submit_example
from store.models import Category
from store.types import utcnow


def _chosen_category(session: Session, slug: str | None, suggestion: SuggestedCategory) -> Category:
    """The category asked for, else the one furthest from its target, else the first active.

    The suggestion is cached (`SuggestedCategory`): when every target is met it stays None, and
    counting the whole table again on every write is what the cache is there to avoid.
    """
    slug = slug or suggestion.slug(session)
    if slug:
        return get_category(session, slug)
    active = list_categories(session, active_only=True)
    if not active:
        raise ValidationFailed({"category": "No category is taking examples right now."})
    return active[0]


def open_write_modal(deps: Deps, client: WebClient, trigger_id: str, slug: str | None) -> None:
    """Open the write modal (trigger_id lives 3 s: one quick query, then views.open)."""
    with deps.session() as s:
        selected = _chosen_category(s, slug, deps.suggestion)
        meta = ModalMeta(category=selected.slug, started=time.time())
        view = write_modal(list_categories(s, active_only=True), selected, meta=meta)
    client.views_open(trigger_id=trigger_id, view=view)


def register(app: App, deps: Deps) -> None:
    """Listeners of the write modal."""

    @lazily(app.action(CATEGORY_ACTION))
    def switch_category(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        slug = read_category(view)
        started = ModalMeta.loads(view.get("private_metadata")).started
        with deps.session() as s:
            selected = _chosen_category(s, slug, deps.suggestion)
            new = write_modal(
                list_categories(s, active_only=True),
                selected,
                meta=ModalMeta(category=selected.slug, started=started),
                text=read_text(view),
            )
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    def submit(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        logger: logging.Logger,
    ) -> None:
        text = read_text(view)
        meta = ModalMeta.loads(view.get("private_metadata"))
        slug = read_category(view) or meta.category
        try:
            with deps.session() as s:
                me = acting_person(s, context, body)
                category = _chosen_category(s, slug, deps.suggestion)
                example = submit_example(
                    s,
                    category=category,
                    text=text,
                    author=me,
                    gate=deps.gate,
                    confirmed=read_confirmed(view),
                    started_at=meta.started_at,
                )
                complete_open(s, me, AssignmentKind.WRITE, now=utcnow())
                written = count_by_author(s, me)
                example_id, cat_name = example.id, category.name
        except ValidationFailed as exc:
            ack(response_action="errors", errors=field_errors(exc.errors, view))
            return
        except NeedsConfirmation as exc:
            with deps.session() as s:
                category = _chosen_category(s, slug, deps.suggestion)
                again = write_modal(
                    list_categories(s, active_only=True),
                    category,
                    meta=ModalMeta(category=category.slug, started=meta.started),
                    text=text,
                    warnings=exc.warnings,
                )
            ack(response_action="update", view=again)
            return
        ack()
        logger.info("example %s submitted by %s", example_id, context.user_id)
        leave_for_later(
            context,
            text=(
                f":raised_hands: Thank you! Your {escape_mrkdwn(cat_name)} example "
                f"(#{example_id}) is waiting for review. That makes {written} from you."
            ),
        )

    def thank(
        body: dict[str, Any], client: WebClient, context: BoltContext, logger: logging.Logger
    ) -> None:
        thanks = after_ack(context)
        if thanks is None:  # the submission came back with errors: nothing to thank for
            return
        user = context.user_id or body["user"]["id"]
        try:
            client.chat_postMessage(channel=user, text=thanks["text"])
        except SlackApiError as exc:
            # The example is stored; a lost thank-you is not worth an error to the person.
            logger.warning("thank-you to %s failed: %s", user, exc.response.get("error"))

    # Validation must answer in the ack (response_action), so the store call runs there;
    # the thank-you (a Web API call) follows after the ack.
    app.view(WRITE_CALLBACK)(ack=friendly(submit), lazy=[friendly(thank)])
