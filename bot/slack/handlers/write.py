"""Writing: open the modal, switch category or kind, add/remove turns, submit (errors come back
on the right field, with everything typed kept)."""

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
from bot.slack.views.turns import (
    ADD_TURN_ACTION,
    REMOVE_TURN_ACTION,
    next_side,
    read_turns,
    view_with_turns,
)
from bot.slack.views.write import (
    CATEGORY_ACTION,
    CONVERSATION,
    KIND_ACTION,
    WRITE_CALLBACK,
    ModalMeta,
    field_errors,
    pair_as_turns,
    read_category,
    read_confirmed,
    read_kind,
    read_text,
    turns_as_pair,
    write_modal,
)
from store.assignments import complete_open
from store.categories import get_category, list_categories
from store.conversations import MAX_TURNS, Turn
from store.deliveries import claim_delivery
from store.enums import AssignmentKind
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import PairText, count_by_author, submit_example
from store.experts import Affinity, affinity_for
from store.models import Category
from store.types import utcnow


def _chosen_category(
    session: Session,
    slug: str | None,
    suggestion: SuggestedCategory,
    person: Affinity | None = None,
) -> Category:
    """The category asked for, else the one furthest from its target for this person (gaps
    weighted by their expertise and interests), else the first active.

    The gaps are cached (`SuggestedCategory`): counting the whole table again on every write
    is what the cache is there to avoid.
    """
    if not slug:
        slug = suggestion.slug(session, person)
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
    conversation: bool = False,
) -> None:
    """Open the write modal (trigger_id lives 3 s: a few quick reads, then views.open);
    `user` (team id, user id) makes the suggestion personal; `conversation` opens it on turns."""
    with deps.reading() as s:
        person = affinity_for(s, *user) if user else None
        selected = _chosen_category(s, slug, deps.suggestion, person)
        kind = CONVERSATION if conversation else None
        meta = ModalMeta(category=selected.slug, started=time.time(), kind=kind)
        view = write_modal(list_categories(s, active_only=True), selected, meta=meta)
    client.views_open(trigger_id=trigger_id, view=view)


def _modal_of(body: dict[str, Any]) -> dict[str, Any]:
    """The modal a click came from (BadPayload for a click anywhere else)."""
    view = obj(body.get("view"), "view")
    if not isinstance(view.get("id"), str):
        raise BadPayload("a modal's action outside a modal")
    return view


def _redraw(
    deps: Deps,
    client: WebClient,
    view: dict[str, Any],
    *,
    conversation: bool,
    text: PairText | None = None,
    turns: list[Turn] | None = None,
) -> None:
    """The write modal again, for the category now selected and the kind chosen, with the
    texts given (views.update)."""
    slug = read_category(view)
    started = ModalMeta.loads(view.get("private_metadata")).started
    with deps.reading() as s:
        selected = _chosen_category(s, slug, deps.suggestion)
        kind = CONVERSATION if conversation else None
        new = write_modal(
            list_categories(s, active_only=True),
            selected,
            meta=ModalMeta(category=selected.slug, started=started, kind=kind),
            text=text,
            turns=turns if conversation else None,
        )
    client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)


def register(app: App, deps: Deps) -> None:
    """Listeners of the write modal, and the turn buttons of any modal holding turns."""

    def switch_category(body: dict[str, Any], client: WebClient) -> None:
        view = _modal_of(body)
        if ModalMeta.loads(view.get("private_metadata")).conversation:
            _redraw(deps, client, view, conversation=True, turns=read_turns(view))
        else:
            _redraw(deps, client, view, conversation=False, text=read_text(view))

    listen(app.action(CATEGORY_ACTION), switch_category)

    def switch_kind(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        view = _modal_of(body)
        was = ModalMeta.loads(view.get("private_metadata")).conversation
        wanted = read_kind(action) == CONVERSATION
        if wanted == was:  # a repeat of the click that already redrew it
            return
        # What was typed moves across: a pair's text becomes the first two turns and back.
        if wanted:
            _redraw(deps, client, view, conversation=True, turns=pair_as_turns(read_text(view)))
        else:
            _redraw(deps, client, view, conversation=False, text=turns_as_pair(read_turns(view)))

    listen(app.action(KIND_ACTION), switch_kind)

    def change_turns(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        # Any modal built with turn_input_blocks: rebuilt from what Slack sent, every text kept.
        view = _modal_of(body)
        turns = read_turns(view)
        if action.get("action_id") == ADD_TURN_ACTION and len(turns) < MAX_TURNS:
            turns.append(Turn(next_side(turns), ""))
        elif len(turns) > 2:
            turns.pop()
        new = view_with_turns(view, turns)
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    listen(app.action(ADD_TURN_ACTION), change_turns)
    listen(app.action(REMOVE_TURN_ACTION), change_turns)

    def submit(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        context: BoltContext,
        logger: logging.Logger,
    ) -> Later | None:
        meta = ModalMeta.loads(view.get("private_metadata"))
        turns = read_turns(view) if meta.conversation else None
        text = read_text(view)
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
                    turns=turns,
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
                    meta=ModalMeta(category=category.slug, started=meta.started, kind=meta.kind),
                    text=text,
                    warnings=exc.warnings,
                    turns=turns,
                )
            ack(response_action="update", view=again)
            return None
        logger.info("example %s submitted by %s", example_id, context.user_id)
        what = "conversation" if turns is not None else "example"
        return {
            "text": (
                f":raised_hands: Thank you! Your {escape_mrkdwn(cat_name)} {what} "
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
