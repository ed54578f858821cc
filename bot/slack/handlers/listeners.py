"""Every listener in two halves: the person's change, committed before the ack; the Web API
calls after it, in Bolt's lazy listeners (`app.action(...)(ack=..., lazy=[...])`).

A crash after the ack can then lose a message at most, never what the person did: Slack
never resends an acked request, so whatever must survive is in the database before the ack
returns. A follow-up that fails (Slack down, a 5xx after slack_sdk's retries) is logged with
the person and the action; they see the current state at the next `/crowdtune review` or
App Home, which read it from the database.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.errors import OOPS, answer_in_modal, friendly_message, tell_quietly
from bot.slack.fields import BadPayload
from bot.slack.handlers.common import ResponseUrlRefused
from store.db import DatabaseProblem
from store.errors import DomainError

# The context key of what the ack half leaves for the follow-up (Bolt copies the context).
AFTER_ACK_KEY = "crowdtune_after_ack"
# What the follow-up tells the person when the ack half failed.
ERROR_KEY = "error"
# What the person is told when their change is stored but the follow-up broke.
FOLLOW_UP_FAILED = (
    ":warning: Your answer is saved, but I could not show what comes next. "
    "`/crowdtune review` (or the Home tab) picks up from here."
)

# Plain data the ack half leaves for the follow-up (deep-copied by Bolt).
Later = dict[str, Any]
# The ack half: commits the person's change and returns plain data for the follow-up.
Commit = Callable[..., Later | None]
# The follow-up: Web API calls only (plus reads), given what the ack half left as `later`.
FollowUp = Callable[..., None]
Register = Callable[..., Any]


def _wanted(fn: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(fn).parameters)


def committed(fn: Commit) -> Callable[..., None]:
    """The ack half: run `fn` (its transaction commits before it returns), keep what it returns
    for the follow-up, then ack. An error still acks, with the message left for the follow-up;
    a modal not yet acked gets the error on its first field instead (what was typed stays).
    `fn` may ack itself, e.g. with `response_action` errors."""
    wanted = _wanted(fn)

    def ack_half(
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
        given = {
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
            later = fn(**{name: given[name] for name in wanted})
        except Exception as exc:
            if isinstance(exc, BadPayload):
                logger.warning(
                    "%s refused a malformed request from %s: %s", fn.__name__, _who(body), exc.what
                )
            elif isinstance(exc, DatabaseProblem):
                # Not stored, and the person is told so: one line says whom (the operator
                # sees how often the database keeps people waiting).
                logger.warning("%s for %s not stored: %s", fn.__name__, _who(body), exc.code)
            elif not isinstance(exc, DomainError):
                logger.exception("%s failed for %s; nothing was stored", fn.__name__, _who(body))
            text = friendly_message(exc)
            if answer_in_modal(ack, body, text):
                return
            later = {ERROR_KEY: text}
        if later is not None:
            context[AFTER_ACK_KEY] = later
        if ack.response is None:
            ack()

    ack_half.__name__ = ack_half.__qualname__ = f"{fn.__name__}_ack"
    return ack_half


def ack_only(ack: Ack) -> None:
    """The ack half of a listener that changes nothing: answer Slack at once."""
    ack()


def follow_up(fn: FollowUp) -> Callable[..., None]:
    """The lazy half: tell the person about an error the ack half left, else run `fn`.

    A DomainError raised here is told to the person. A Web API call that failed after
    slack_sdk's retries is logged with the person and the action (Slack would not take
    another message either); any other failure is logged and the person told where to pick up.
    """
    wanted = _wanted(fn)

    def lazy_half(
        body: dict[str, Any],
        client: WebClient,
        respond: Respond | None,
        context: BoltContext,
        action: dict[str, Any] | None,
        view: dict[str, Any] | None,
        event: dict[str, Any] | None,
        logger: logging.Logger,
    ) -> None:
        left = context.get(AFTER_ACK_KEY)
        stored = isinstance(left, dict) and ERROR_KEY not in left  # the ack half committed
        later: Later = left if isinstance(left, dict) else {}
        if ERROR_KEY in later:
            tell_quietly(client, body, str(later[ERROR_KEY]), respond, logger)
            return
        given: dict[str, Any] = {
            "body": body,
            "client": client,
            "respond": respond,
            "context": context,
            "action": action,
            "view": view,
            "event": event,
            "logger": logger,
            "later": later,
        }
        try:
            fn(**{name: given[name] for name in wanted})
        except DomainError as exc:
            if isinstance(exc, BadPayload):
                logger.warning(
                    "%s refused a malformed request from %s: %s", fn.__name__, _who(body), exc.what
                )
            tell_quietly(client, body, friendly_message(exc), respond, logger)
        except (SlackApiError, ResponseUrlRefused, OSError) as exc:
            # Slack refused or was unreachable after slack_sdk's retries: another message
            # would go the same way. What the person did is in the database.
            logger.warning(
                "follow-up %s of %s for %s failed: %s; they see the current state at "
                "/crowdtune review or App Home",
                fn.__name__,
                _what(body),
                _who(body),
                _reason(exc),
            )
        except Exception:
            logger.exception(
                "follow-up %s of %s for %s failed", fn.__name__, _what(body), _who(body)
            )
            text = FOLLOW_UP_FAILED if stored else OOPS
            tell_quietly(client, body, text, respond, logger)

    lazy_half.__name__ = lazy_half.__qualname__ = fn.__name__
    return lazy_half


def listen(register: Register, then: FollowUp, *, commit: Commit | None = None) -> None:
    """Register a listener in two halves: `commit` before the ack (none: just ack), `then`
    after it in Bolt's lazy listeners."""
    register(ack=committed(commit) if commit else ack_only, lazy=[follow_up(then)])


def _dict(value: Any) -> dict[str, Any]:
    # Log helpers read what may be a forged payload: anything but an object counts as none.
    return value if isinstance(value, dict) else {}


def _who(body: dict[str, Any]) -> str:
    user, event, team_obj = _dict(body.get("user")), _dict(body.get("event")), body.get("team")
    who = user.get("id") or body.get("user_id") or event.get("user") or body.get("user") or "?"
    team = _dict(team_obj).get("id") or body.get("team_id") or user.get("team_id")
    return f"{str(team)[:20]}/{str(who)[:20]}" if team else str(who)[:20]


def _what(body: dict[str, Any]) -> str:
    """The action, command, view or event a request carries, for the log."""
    actions = body.get("actions") or []
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"action {actions[0].get('action_id')} ({str(actions[0].get('value', ''))[:100]})"
    if body.get("command"):
        return f"command {body['command']} {str(body.get('text', ''))[:100]}".rstrip()
    if body.get("view"):
        return f"view {_dict(body['view']).get('callback_id')}"
    if body.get("event"):
        return f"event {_dict(body['event']).get('type')}"
    return "request"


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.status_code} {exc.response.get('error')}"
    return f"{type(exc).__name__}: {exc}"
