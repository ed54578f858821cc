"""What listeners share: their collaborators, and who is acting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.errors import friendly
from store.contributors import get_or_create_contributor, is_admin
from store.db import session_scope
from store.examples import QualityGate
from store.experts import Affinity, suggest_category
from store.models import Category, Contributor
from store.reviews import Quorum
from store.stats import gaps

# Runs an export with the given `crowdtune export` options and returns a one-line summary.
ExportRunner = Callable[[str], str]


# The context key of what an ack function leaves for its lazy follow-up.
AFTER_ACK_KEY = "crowdtune_after_ack"

# How long a suggested category may be reused before the gaps are counted again.
SUGGESTION_TTL_SECONDS = 30.0


class SuggestedCategory:
    """The category to suggest, from gaps recounted at most every `ttl` seconds.

    Counting approved and pending examples scans the whole table (21 ms of PostgreSQL time at
    67k examples, on every `/crowdtune write`); gaps a few seconds old are as good. The gaps
    are weighted per person by their expertise and interests (`store.experts`).
    """

    def __init__(self, ttl: float = SUGGESTION_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._gaps: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self._counted_at = float("-inf")

    def slug(self, session: Session, person: Affinity | None = None) -> str | None:
        """The suggested category's slug (None when every category has met its target)."""
        with self._lock:
            if time.monotonic() - self._counted_at > self.ttl:
                self._gaps = gaps(session)
                self._ids = {
                    slug: cid for slug, cid in session.execute(select(Category.slug, Category.id))
                }
                self._counted_at = time.monotonic()
            return suggest_category(self._gaps, self._ids, person or Affinity())


@dataclass(frozen=True)
class Deps:
    """Collaborators the listeners use, built once by build_app from the Runtime."""

    sessions: sessionmaker[Session]
    quorum: Quorum
    gate: QualityGate | None
    admins: frozenset[str]
    export_args: str
    exporter: ExportRunner
    suggestion: SuggestedCategory = field(default_factory=SuggestedCategory)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction."""
        with session_scope(self.sessions) as s:
            yield s

    def is_admin(self, contributor: Contributor) -> bool:
        """Admins by configured Slack id or by the admin role."""
        return is_admin(contributor, self.admins)


def acting_user(context: BoltContext, body: dict[str, Any]) -> tuple[str, str]:
    """(team id, user id) of who sent this request."""
    user = body.get("user") or {}
    team = context.team_id or user.get("team_id") or body.get("team_id") or ""
    user_id = context.user_id or user.get("id") or body.get("user_id")
    if not user_id:
        raise ValueError("request names no user")
    return str(team), str(user_id)


def acting_person(session: Session, context: BoltContext, body: dict[str, Any]) -> Contributor:
    """The contributor who sent this request, created on first contact."""
    user = body.get("user") or {}
    name = body.get("user_name") or user.get("username") or user.get("name")
    team, user_id = acting_user(context, body)
    return get_or_create_contributor(session, team, user_id, display_name=name)


def show(
    client: WebClient,
    body: dict[str, Any],
    respond: Respond | None,
    *,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    replace: bool = True,
) -> None:
    """Put a message in front of the acting person: replace the clicked message, else DM."""
    if respond is not None and respond.response_url:
        respond(
            text=text,
            blocks=blocks,
            replace_original=replace,
            response_type="ephemeral",
        )
        return
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    client.chat_postMessage(channel=str(user), text=text, blocks=blocks)


def ack_now(ack: Ack) -> None:
    """The ack function of lazy listeners: answer Slack at once; the work runs after."""
    ack()


def lazily(register: Callable[..., Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: ack immediately in the request thread, then run the listener in Bolt's pool.

    The ack never waits for a free worker thread or for the database, so it stays fast
    under load; errors in the work become a friendly reply (`friendly`).
    """

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        register(ack=ack_now, lazy=[friendly(fn)])
        return fn

    return decorate


def after_ack(context: BoltContext) -> dict[str, Any] | None:
    """What a view-submission ack function left for its lazy follow-up (see `leave_for_later`)."""
    value = context.get(AFTER_ACK_KEY)
    return value if isinstance(value, dict) else None


def leave_for_later(context: BoltContext, **data: Any) -> None:
    """Plain data for the lazy follow-up (Bolt copies the context to the lazy listener;
    `bot.slack.work` forwards it to the work process)."""
    context[AFTER_ACK_KEY] = data
