"""One place that turns errors in listeners into a friendly reply, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.escape import escape_mrkdwn
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
    ) -> None:
        if not isinstance(error, DomainError):
            logger.exception("listener failed", exc_info=error)
        try:
            tell(client, body, friendly_message(error), respond)
        except SlackApiError as exc:
            logger.warning(
                "could not tell the person about an error: %s", exc.response.get("error")
            )


def answer_in_modal(ack: Ack, body: dict[str, Any], text: str) -> bool:
    """Show `text` on the first field of a modal not yet acked (what was typed stays); False
    when this is no modal submission or it was acked already."""
    if body.get("type") != "view_submission" or ack.response is not None:
        return False
    inputs = [
        b["block_id"] for b in body.get("view", {}).get("blocks", []) if b.get("type") == "input"
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
