"""What listeners share: their collaborators, and who is acting."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.client import webhook_retry_handlers
from bot.slack.fields import BadPayload
from store.consents import DEFAULT_CONSENT_DAYS
from store.contributors import find_contributor, get_or_create_contributor, is_admin
from store.db import session_scope
from store.errors import NotFound
from store.examples import QualityGate
from store.experts import Affinity, suggest_category
from store.models import Category, Contributor
from store.report import Report
from store.reviews import Quorum
from store.stats import gaps
from store.validation import unstorable

# Runs an export with the given `crowdtune export` options and returns a one-line summary.
ExportRunner = Callable[[str], str]
# Builds the quality report from the database (`crowdtune report`'s figures).
ReportRunner = Callable[[], Report]

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
    reporter: ReportRunner | None = None
    # SQLite runs one transaction at a time per file (BEGIN IMMEDIATE), and a thread waiting
    # for the file polls with sleeps of up to 100 ms: under a burst the unlucky waited seconds.
    # Queueing this process's transactions on a lock instead hands the file on at once.
    one_at_a_time: bool = False
    _turn: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Sessions for transactions that only read (DEFERRED on SQLite); None: `sessions`.
    reads: sessionmaker[Session] | None = None
    # Days a quoted author has to answer a capture's consent request (CROWDTUNE_CONSENT_DAYS).
    consent_days: int = DEFAULT_CONSENT_DAYS

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction (on SQLite, after this process's earlier ones)."""
        with self._turn if self.one_at_a_time else nullcontext(), session_scope(self.sessions) as s:
            yield s

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One transaction that only reads: beside the writer on SQLite, never queued."""
        if self.reads is None:
            with self.session() as s:
                yield s
            return
        with session_scope(self.reads) as s:
            yield s

    def is_admin(self, contributor: Contributor) -> bool:
        """Admins by configured Slack id or by the admin role."""
        return is_admin(contributor, self.admins)


# Slack's user and team ids (U…, W…, T…, E…): letters and digits, at most 32 here.
_SLACK_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def _identity(context: BoltContext, body: dict[str, Any]) -> tuple[str, str, str | None]:
    raw = body.get("user")
    user = raw if isinstance(raw, dict) else {}
    name = body.get("user_name") or user.get("username") or user.get("name")
    team = context.team_id or user.get("team_id") or body.get("team_id") or ""
    user_id = context.user_id or user.get("id") or body.get("user_id")
    if not isinstance(user_id, str) or not _SLACK_ID.fullmatch(user_id):
        raise BadPayload("the request names no user")
    if not isinstance(team, str) or (team and not _SLACK_ID.fullmatch(team)):
        raise BadPayload("the request's team is not an id")
    # A name that cannot be stored (lone surrogates, NUL) is no name: the id is enough.
    if not isinstance(name, str) or unstorable(name) or len(name) > 255:
        name = None
    return team, user_id, name


def acting_user(context: BoltContext, body: dict[str, Any]) -> tuple[str, str]:
    """(team id, user id) of who sent this request."""
    team, user_id, _ = _identity(context, body)
    return team, user_id


def acting_person(session: Session, context: BoltContext, body: dict[str, Any]) -> Contributor:
    """The contributor who sent this request, created on first contact."""
    team, user_id, name = _identity(context, body)
    return get_or_create_contributor(session, team, user_id, display_name=name)


@contextmanager
def reading_as_person(
    deps: Deps, context: BoltContext, body: dict[str, Any]
) -> Iterator[tuple[Session, Contributor]]:
    """A transaction that only reads, and the acting person in it: one transaction for someone
    known (a reply's usual case), else created first in a transaction of its own."""
    team, user_id, _ = _identity(context, body)
    with deps.reading() as s:
        try:
            me = find_contributor(s, team, user_id)
        except NotFound:
            pass
        else:
            yield s, me
            return
    with deps.session() as s:
        acting_person(s, context, body)
    with deps.reading() as s:
        yield s, find_contributor(s, team, user_id)


def reading_as(deps: Deps, context: BoltContext, body: dict[str, Any]) -> int:
    """The acting person's id for a reply that only reads: looked up without taking SQLite's
    write lock, created (in a transaction of its own) on first contact."""
    team, user_id, _ = _identity(context, body)
    with deps.reading() as s:
        try:
            return find_contributor(s, team, user_id).id
        except NotFound:
            pass
    with deps.session() as s:
        return acting_person(s, context, body).id


class ResponseUrlRefused(Exception):
    """Slack did not take a message sent to a response_url (after the retries)."""


def post_to_response_url(
    url: str, *, text: str, blocks: list[dict[str, Any]] | None, replace: bool
) -> None:
    """Send an ephemeral message to a response_url, retrying 5xx and lost connections;
    raises ResponseUrlRefused when Slack still does not take it."""
    webhook = WebhookClient(url, timeout=10, retry_handlers=webhook_retry_handlers())
    resp = webhook.send(
        text=text, blocks=blocks, replace_original=replace, response_type="ephemeral"
    )
    if resp.status_code != 200:
        raise ResponseUrlRefused(f"{resp.status_code} {resp.body[:200]}")


def show(
    client: WebClient,
    body: dict[str, Any],
    *,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    replace: bool = True,
    url: str | None = None,
) -> None:
    """Put a message in front of the acting person: replace the clicked message (its
    response_url, or `url`), else DM."""
    url = url or body.get("response_url")
    if url:
        post_to_response_url(url, text=text, blocks=blocks, replace=replace)
        return
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    client.chat_postMessage(channel=str(user), text=text, blocks=blocks)
