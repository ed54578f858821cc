"""Writing: open the modal, switch category, submit (errors come back on the right field)."""

from __future__ import annotations

import logging
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
from store.contributors import get_or_create_contributor
from store.enums import AssignmentKind
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import count_by_author, submit_example
from store.experts import affinity
from store.models import Category, Contributor
from store.types import utcnow


def _chosen_category(
    session: Session,
    slug: str | None,
    suggestion: SuggestedCategory,
    person: Contributor | None = None,
) -> Category:
    """The category asked for, else the one furthest from its target for this person (gaps
    weighted by their expertise and interests), else the first active.

    The gaps are cached (`SuggestedCategory`): counting the whole table again on every write
    is what the cache is there to avoid.
    """
    if not slug:
        slug = suggestion.slug(session, affinity(session, person) if person else None)
    if slug:
        return get_category(session, slug)
    active = list_categories(session, active_only=True)
    if not active:
        raise ValidationFailed({"category": "No category is taking examples right now."})
    return active[0]


def open_write_modal(
    deps: Deps,
    client: WebClient,
    trigger_id: str,
    slug: str | None,
    *,
    user: tuple[str, str] | None = None,
) -> None:
    """Open the write modal (trigger_id lives 3 s: a few quick queries, then views.open);
    `user` (team id, user id) makes the suggestion personal."""
    with deps.session() as s:
        person = get_or_create_contributor(s, *user) if user else None
        selected = _chosen_category(s, slug, deps.suggestion, person)
        view = write_modal(list_categories(s, active_only=True), selected)
    client.views_open(trigger_id=trigger_id, view=view)


def register(app: App, deps: Deps) -> None:
    """Listeners of the write modal."""

    @lazily(app.action(CATEGORY_ACTION))
    def switch_category(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        slug = read_category(view)
        with deps.session() as s:
            selected = _chosen_category(s, slug, deps.suggestion)
            new = write_modal(
                list_categories(s, active_only=True),
                selected,
                meta=ModalMeta(category=selected.slug),
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
        slug = read_category(view) or ModalMeta.loads(view.get("private_metadata")).category
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
