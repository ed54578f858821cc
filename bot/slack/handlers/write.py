"""Writing: open the modal, switch category, submit (errors come back on the right field)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.slack.escape import escape_mrkdwn
from bot.slack.fields import BadPayload, obj
from bot.slack.handlers.common import Deps, SuggestedCategory, acting_person
from bot.slack.handlers.listeners import Later, listen
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
from store.deliveries import claim_delivery
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
    with deps.reading() as s:
        selected = _chosen_category(s, slug, deps.suggestion)
        meta = ModalMeta(category=selected.slug, started=time.time())
        view = write_modal(list_categories(s, active_only=True), selected, meta=meta)
    client.views_open(trigger_id=trigger_id, view=view)


def register(app: App, deps: Deps) -> None:
    """Listeners of the write modal."""

    def switch_category(body: dict[str, Any], client: WebClient) -> None:
        view = obj(body.get("view"), "view")
        if not isinstance(view.get("id"), str):
            raise BadPayload("a category change outside a modal")
        slug = read_category(view)
        started = ModalMeta.loads(view.get("private_metadata")).started
        with deps.reading() as s:
            selected = _chosen_category(s, slug, deps.suggestion)
            new = write_modal(
                list_categories(s, active_only=True),
                selected,
                meta=ModalMeta(category=selected.slug, started=started),
                text=read_text(view),
            )
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    listen(app.action(CATEGORY_ACTION), switch_category)

    def submit(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        context: BoltContext,
        logger: logging.Logger,
    ) -> Later | None:
        text = read_text(view)
        meta = ModalMeta.loads(view.get("private_metadata"))
        slug = read_category(view) or meta.category
        try:
            with deps.session() as s:
                # One modal is one example: a second delivery of this submission (a double
                # click, a retry) finds its key taken and stores nothing.
                if view.get("id") and not claim_delivery(s, f"submit:{view['id']}"):
                    logger.info("submission of view %s already stored", view["id"])
                    return None
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
            return None
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
            return None
        logger.info("example %s submitted by %s", example_id, context.user_id)
        return {
            "text": (
                f":raised_hands: Thank you! Your {escape_mrkdwn(cat_name)} example "
                f"(#{example_id}) is waiting for review. That makes {written} from you."
            )
        }

    def thank(body: dict[str, Any], client: WebClient, context: BoltContext, later: Later) -> None:
        if not later:  # errors went back in the ack, or this was a repeat: nothing to thank for
            return
        client.chat_postMessage(channel=context.user_id or body["user"]["id"], text=later["text"])

    # Validation must answer in the ack (response_action), so the store call runs there;
    # the thank-you (a Web API call) follows after the ack.
    listen(app.view(WRITE_CALLBACK), thank, commit=submit)
