"""The "Save as training example" message shortcut: open a modal at once, fill it with the
thread, store what the capturer saves, and ask the quoted authors for their consent."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.slack.capture_draft import (
    anonymise_pair,
    anonymise_turns,
    conversation,
    draft,
    modal_errors,
    single_quotes,
)
from bot.slack.fields import BadPayload, obj, text
from bot.slack.handlers.common import Deps, acting_person, acting_user, post_to_response_url
from bot.slack.handlers.listeners import Later, listen
from bot.slack.thread import (
    PRIVATE,
    CannotRead,
    Names,
    check_channel,
    is_direct,
    permalink,
    read_thread,
)
from bot.slack.views.capture import (
    CAPTURE_CALLBACK,
    CONVERSATION,
    MODE_ACTION,
    SINGLE,
    CaptureMeta,
    TooLong,
    capture_view,
    notice_view,
    read_anonymise,
    read_mode,
)
from bot.slack.views.consent import request_blocks, request_text
from bot.slack.views.turns import read_turns, turn_errors
from bot.slack.views.write import (
    epoch_to_utc,
    field_errors,
    read_category,
    read_confirmed,
    read_text,
)
from store.captures import Source, capture_example
from store.categories import get_category, list_categories
from store.consents import opted_out_among, record_dm
from store.deliveries import claim_delivery
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import PairText
from store.models import Category
from store.types import utcnow
from store.wording import category_by_wording

SHORTCUT = "save_training_example"  # manifest.yml's callback_id
READING = ":hourglass_flowing_sand: Reading the thread…"
TOO_MANY = (
    ":warning: This thread quotes too many people to list as one conversation here. Save it "
    "as a single example, or write the conversation with `/crowdtune write`."
)


def _message(body: dict[str, Any]) -> dict[str, Any]:
    message = obj(body.get("message"), "message")
    if not isinstance(message.get("ts"), str):
        raise BadPayload("a message shortcut without the message's ts")
    return message


def _category(session: Session, slug: str | None, wording: str, context: str = "") -> Category:
    """The category asked for, else the one the wording suggests, else the first active."""
    categories = list_categories(session, active_only=True)
    if slug:
        return get_category(session, slug)
    guess = category_by_wording(categories, wording, context)
    if guess is not None:
        return guess
    if not categories:
        raise ValidationFailed({"category": "No category is taking examples right now."})
    return categories[0]


def _filled(
    deps: Deps,
    client: WebClient,
    team: str,
    meta: CaptureMeta,
    message: dict[str, Any],
) -> dict[str, Any]:
    """The capture modal for `meta.mode`, from the thread as Slack has it now."""
    thread = read_thread(client, meta.channel, message)
    names = Names(client)
    with deps.reading() as s:
        refused = opted_out_among(s, team, [m.user for m in thread.messages])
    found = draft(thread, meta.message_ts, meta.mode, names, refused)
    wording = found.pair.instruction or (found.turns[0].text if found.turns else "")
    known = {uid: name for uid, name in names.known.items() if name}
    filled = replace(meta, quoted=found.quoted, sources=found.sources, names=known)
    with deps.reading() as s:
        selected = _category(s, None, wording)
        categories = list_categories(s, active_only=True)
        try:
            return capture_view(
                categories, selected, filled, pair=found.pair, turns=found.turns, notes=found.notes
            )
        except TooLong as exc:
            raise CannotRead(TOO_MANY) from exc


def _refuse(client: WebClient, view_id: str | None, url: str | None, reason: str) -> None:
    """Say why nothing can be captured here: in the modal (if open) and as an ephemeral."""
    if view_id:
        client.views_update(view_id=view_id, view=notice_view(reason))
    if url:
        post_to_response_url(url, text=reason, blocks=None, replace=False)


def register(app: App, deps: Deps) -> None:
    """Listeners of the shortcut and its modal."""

    def start(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        # The trigger_id lives 3 s: the modal opens before any other call.
        channel = obj(body.get("channel"), "channel")
        message = _message(body)
        url = text(body.get("response_url"), "response_url") or None
        team, _user = acting_user(context, body)
        if is_direct(channel):
            _refuse(client, None, url, PRIVATE)
            return
        trigger = text(body.get("trigger_id"), "trigger_id")
        opened = client.views_open(trigger_id=trigger, view=notice_view(READING))
        view_id = opened["view"]["id"]
        cid = text(channel.get("id"), "channel.id")
        try:
            check_channel(client, cid)
            meta = CaptureMeta(
                channel=cid,
                message_ts=message["ts"],
                thread_ts=text(message.get("thread_ts"), "thread_ts") or None,
                permalink=permalink(client, cid, message["ts"]),
                mode=SINGLE,
                started=time.time(),
            )
            view = _filled(deps, client, team, meta, message)
        except CannotRead as exc:
            _refuse(client, view_id, url, exc.message)
            return
        client.views_update(view_id=view_id, view=view)

    listen(app.shortcut(SHORTCUT), start)

    def switch_mode(
        body: dict[str, Any], client: WebClient, context: BoltContext, action: dict[str, Any]
    ) -> None:
        view = obj(body.get("view"), "view")
        if not isinstance(view.get("id"), str):
            raise BadPayload("a mode change outside a modal")
        meta = CaptureMeta.loads(view.get("private_metadata"))
        team, _user = acting_user(context, body)
        mode = read_mode(action)
        # conversations.replies gives a message in no thread alone: one way for both.
        message = {"ts": meta.message_ts, "thread_ts": meta.thread_ts or meta.message_ts}
        again = replace(meta, mode=mode)
        try:
            new = _filled(deps, client, team, again, message)
        except CannotRead as exc:
            new = notice_view(exc.message)
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=new)

    listen(app.action(MODE_ACTION), switch_mode)

    def submit(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        context: BoltContext,
        logger: logging.Logger,
    ) -> Later | None:
        meta = CaptureMeta.loads(view.get("private_metadata"))
        anonymise = read_anonymise(view)
        names = list(meta.names.values()) if anonymise else []
        pair, turns, quotes, fields = PairText("", "", ""), None, [], []
        if meta.mode == CONVERSATION:
            typed = anonymise_turns(read_turns(view), names)
            sent = conversation(typed, meta.quoted, meta.sources)
            turns, quotes, fields = sent.turns, sent.quotes, sent.fields
        else:
            pair = anonymise_pair(read_text(view), names)
            quotes = single_quotes(pair, meta.quoted)
        team, _user = acting_user(context, body)
        try:
            with deps.session() as s:
                if view.get("id") and not claim_delivery(s, f"capture:{view['id']}"):
                    logger.info("capture of view %s already stored", view["id"])
                    return None
                me = acting_person(s, context, body)
                category = _category(s, read_category(view), pair.instruction, pair.context)
                captured = capture_example(
                    s,
                    category=category,
                    text=pair,
                    turns=turns,
                    quotes=quotes,
                    capturer=me,
                    source=Source(
                        team,
                        meta.channel,
                        meta.message_ts,
                        meta.thread_ts,
                        meta.permalink,
                        anonymise,
                    ),
                    now=utcnow(),
                    gate=deps.gate,
                    confirmed=read_confirmed(view),
                    started_at=epoch_to_utc(meta.started),
                )
                asks = [
                    {"id": c.id, "user": c.slack_user_id, "quoted": c.quoted_text}
                    for c in captured.consents
                ]
                example_id, capturer = captured.example.id, me.display_name or me.slack_user_id
        except ValidationFailed as exc:
            if meta.mode == CONVERSATION:
                errors = turn_errors(modal_errors(exc.errors, fields), len(read_turns(view)))
            else:
                errors = field_errors(exc.errors, view)
            ack(response_action="errors", errors=errors)
            return None
        except NeedsConfirmation as exc:
            with deps.reading() as s:
                category = _category(s, read_category(view), pair.instruction)
                again = capture_view(
                    list_categories(s, active_only=True),
                    category,
                    meta,
                    pair=read_text(view),
                    turns=read_turns(view) if meta.mode == CONVERSATION else (),
                    anonymise=anonymise,
                    warnings=exc.warnings,
                )
            ack(response_action="update", view=again)
            return None
        logger.info("example %s captured by %s (%d to ask)", example_id, context.user_id, len(asks))
        return {
            "example_id": example_id,
            "capturer": capturer,
            "asks": asks,
            "permalink": meta.permalink,
        }

    def ask_consent(
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        later: Later,
        logger: logging.Logger,
    ) -> None:
        if not later:
            return
        for ask in later["asks"]:
            try:
                posted = client.chat_postMessage(
                    channel=ask["user"],
                    text=request_text(later["capturer"]),
                    blocks=request_blocks(
                        ask["id"],
                        capturer=later["capturer"],
                        quoted=ask["quoted"],
                        days=deps.consent_days,
                        permalink=later["permalink"],
                    ),
                )
            except SlackApiError as exc:
                # Someone Slack cannot reach never answers: the expiry sweep deletes the text.
                logger.warning(
                    "consent request %s to %s not sent: %s",
                    ask["id"],
                    ask["user"],
                    exc.response.get("error"),
                )
                continue
            with deps.session() as s:
                record_dm(s, ask["id"], str(posted["channel"]), str(posted["ts"]))
        n = len(later["asks"])
        if n:
            note = (
                f":envelope: Saved as example #{later['example_id']}. I asked the "
                f"{n} {'person' if n == 1 else 'people'} quoted for their consent; it goes to "
                "review once everyone allows."
            )
        else:
            note = f":raised_hands: Saved as example #{later['example_id']}; it waits for review."
        client.chat_postMessage(channel=context.user_id or body["user"]["id"], text=note)

    listen(app.view(CAPTURE_CALLBACK), ask_consent, commit=submit)
