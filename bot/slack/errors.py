"""One place that turns errors in listeners into a friendly reply, never a traceback."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.context.respond import Respond
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.escape import escape_mrkdwn
from bot.slack.fields import BadPayload
from store.errors import Conflict, DomainError, NotFound, PermissionDenied

OOPS = (
    "Sorry, something went wrong on our side and nothing was changed. Please try again in a minute."
)


def friendly_message(error: Exception) -> str:
    """What to tell the person about `error` (domain errors say what to fix)."""
    if isinstance(error, Conflict):
        return f":information_source: {escape_mrkdwn(error.message)} Nothing else to do."
    if isinstance(error, PermissionDenied):
        return f":no_entry: {escape_mrkdwn(error.message)}"
    if isinstance(error, NotFound):
        return f":grey_question: {escape_mrkdwn(error.message)}"
    if isinstance(error, DomainError):
        return f":warning: {escape_mrkdwn(error.message)}"
    return OOPS


def tell(
    client: WebClient, body: dict[str, Any], text: str, respond: Respond | None = None
) -> None:
    """Reply to the person who acted: through response_url if there is one, else by DM."""
    if respond is not None and respond.response_url:
        respond(text=text, response_type="ephemeral", replace_original=False)
        return
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    if user:
        client.chat_postMessage(channel=user, text=text)


def register_error_handler(app: App) -> None:
    """Log unexpected errors; tell the person what happened in words."""

    @app.error
    def on_error(
        error: Exception,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond | None,
        logger: logging.Logger,
    ) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            # Signed, well-formed, but nothing here handles it (an event we do not use, a
            # stale button): one line, and a 200 so Slack neither retries nor gives up on us.
            logger.warning("ignored a Slack request no listener handles: %s", _kind(body))
            return BoltResponse(status=200, body="")
        if isinstance(error, BadPayload):
            logger.warning("refused a malformed Slack request: %s", error.what)
        elif not isinstance(error, DomainError):
            logger.exception("listener failed", exc_info=error)
        try:
            tell(client, body, friendly_message(error), respond)
        except SlackApiError as exc:
            logger.warning(
                "could not tell the person about an error: %s", exc.response.get("error")
            )
        return None


def _kind(body: Any) -> str:
    """A short description of a request for a log line (no user text)."""
    if not isinstance(body, dict):
        return type(body).__name__
    parts = [str(body.get("type") or "")[:40]]
    for key in ("command", "callback_id"):
        if isinstance(body.get(key), str):
            parts.append(f"{key}={body[key][:40]!r}")
    event = body.get("event")
    if isinstance(event, dict):
        parts.append(f"event={str(event.get('type'))[:40]!r}")
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        parts.append(f"action={str(actions[0].get('action_id'))[:40]!r}")
    return " ".join(p for p in parts if p) or "empty"


def friendly(fn: Callable[..., None]) -> Callable[..., None]:
    """Wrap a listener so a DomainError (or a crash) becomes a reply to the person.

    Bolt's own error handler is not enough: in ack-first mode an exception after ack()
    erases the ack and Slack gets a 404. The wrapper takes every argument Bolt offers and
    passes on those the listener names, as Bolt itself would.
    """
    wanted = list(inspect.signature(fn).parameters)

    def listener(
        ack: Ack,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond | None,
        context: BoltContext,
        action: dict[str, Any] | None,
        view: dict[str, Any] | None,
        event: dict[str, Any] | None,
        logger: logging.Logger,
    ) -> None:
        given: dict[str, Any] = {
            "ack": ack,
            "body": body,
            "client": client,
            "respond": respond,
            "context": context,
            "action": action,
            "view": view,
            "event": event,
            "logger": logger,
        }
        try:
            fn(**{name: given[name] for name in wanted})
        except Exception as exc:
            if isinstance(exc, BadPayload):
                logger.warning("listener %s refused a malformed request: %s", fn.__name__, exc.what)
            elif not isinstance(exc, DomainError):
                logger.exception("listener %s failed", fn.__name__)
            text = friendly_message(exc)
            if not _answer_in_modal(ack, body, text):
                _tell_quietly(client, body, text, respond, logger)

    listener.__name__ = fn.__name__
    listener.__qualname__ = fn.__qualname__
    return listener


def _answer_in_modal(ack: Ack, body: dict[str, Any], text: str) -> bool:
    # A modal not yet acked shows the error on its first field, keeping what was typed.
    if body.get("type") != "view_submission" or ack.response is not None:
        return False
    inputs = [
        b["block_id"] for b in body.get("view", {}).get("blocks", []) if b.get("type") == "input"
    ]
    if not inputs:
        return False
    ack(response_action="errors", errors={inputs[0]: text[:2000]})
    return True


def _tell_quietly(
    client: WebClient,
    body: dict[str, Any],
    text: str,
    respond: Respond | None,
    logger: logging.Logger,
) -> None:
    try:
        tell(client, body, text, respond)
    except SlackApiError as exc:
        logger.warning("could not tell the person about an error: %s", exc.response.get("error"))
