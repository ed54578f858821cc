"""One place that turns errors in listeners into a friendly reply, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltResponse
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
    person = body.get("user")
    user = (person.get("id") if isinstance(person, dict) else person) or body.get("user_id")
    if isinstance(user, str) and user:
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
            logger.warning("ignored a Slack request no listener handles: %s", request_kind(body))
            return BoltResponse(status=200, body="")
        log_failure(logger, error, "listener")
        tell_quietly(client, body, friendly_message(error), respond, logger)
        return None


def log_failure(logger: logging.Logger, error: Exception, where: str) -> None:
    """One warning line for a malformed request, a traceback only for a real bug; domain
    errors (the person's mistake, a busy database) are answered, not logged."""
    if isinstance(error, BadPayload):
        logger.warning("%s refused a malformed request: %s", where, error.what)
    elif not isinstance(error, DomainError):
        logger.error("%s failed", where, exc_info=error)


def request_kind(body: Any) -> str:
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


def answer_in_modal(ack: Ack, body: dict[str, Any], text: str) -> bool:
    """Show `text` on the first field of a modal not yet acked (what was typed stays); False
    when this is no modal submission or it was acked already."""
    if body.get("type") != "view_submission" or ack.response is not None:
        return False
    view = body.get("view")
    blocks = view.get("blocks") if isinstance(view, dict) else None
    inputs = [
        b["block_id"]
        for b in (blocks if isinstance(blocks, list) else [])
        if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("block_id"), str)
    ]
    if not inputs:
        return False
    ack(response_action="errors", errors={inputs[0]: text[:2000]})
    return True


def tell_quietly(
    client: WebClient,
    body: dict[str, Any],
    text: str,
    respond: Respond | None,
    logger: logging.Logger,
) -> None:
    """`tell`, logging instead of raising when Slack does not take the message."""
    try:
        tell(client, body, text, respond)
    except SlackApiError as exc:
        logger.warning("could not tell the person: Slack answered %s", exc.response.get("error"))
    except OSError as exc:  # Slack unreachable, after slack_sdk's retries
        logger.warning("could not tell the person: %s", exc)
