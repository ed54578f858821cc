"""The WSGI application of HTTP mode: Bolt's adapter at /slack/events, plus GET /healthz.

Before Bolt sees a request, its signature is checked on the raw bytes (401 when it is not
Slack's) and its body is checked for the shape Slack sends (400 when it is not): anyone on
the internet can reach this endpoint, and junk must cost a status line, not a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine

from bot.slack.payloads import MAX_BODY_BYTES, BadBody, check_body

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# /healthz answers within this many seconds even when the database hangs.
HEALTH_DEADLINE_SECONDS = 1.0
# Slack's rule: a request older (or newer) than five minutes may be a replay.
SIGNATURE_MAX_AGE_SECONDS = 300
log = logging.getLogger(__name__)


def database_check(engine: Engine) -> Callable[[], None]:
    """A check that runs `SELECT 1` on the database (raises when it is unreachable)."""

    def check() -> None:
        # Straight on the driver's cursor: a SQLAlchemy transaction on SQLite would begin
        # with BEGIN IMMEDIATE (see store.db) and wait for another process's write lock.
        with engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchall()
            finally:
                cursor.close()

    return check


class HealthCheck:
    """Runs the database check in one background thread and waits at most `deadline`:
    a hung database makes /healthz say 503 at once, and never piles up threads."""

    def __init__(self, check: Callable[[], None], deadline: float = HEALTH_DEADLINE_SECONDS):
        self.check = check
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="healthz")
        self._lock = threading.Lock()
        self._running: Future[None] | None = None

    def problem(self) -> str | None:
        """None when the database answered in time, else what went wrong (one line)."""
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._pool.submit(self.check)
            running = self._running
        try:
            running.result(timeout=self.deadline)
        except FutureTimeout:
            return f"no answer within {self.deadline:g} s"
        except Exception as exc:  # any failure means "not healthy", said in one line
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        return None


def _respond(
    start_response: StartResponse, status: str, body: bytes, content_type: str = "text/plain"
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ: WSGIEnvironment) -> bytes | None:
    """The request body, or None when it is larger than any Slack request (or unreadable)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length < 0 or length > MAX_BODY_BYTES:
        return None
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _numeric_timestamp(environ: WSGIEnvironment) -> bool:
    return str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")).strip().isdigit()


class SignatureGate:
    """Slack's v0 signature over the raw body bytes (slack_sdk's verifier decodes the body
    first and raises on bytes that are not UTF-8), checked before anything parses it."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self.key = signing_secret.encode()
        self.clock = clock

    def valid(self, environ: WSGIEnvironment, body: bytes) -> bool:
        """True when the timestamp is within Slack's 5 minutes and the signature matches."""
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")).strip()
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", "")).strip()
        if not timestamp.isdigit() or len(timestamp) > 12 or not signature.startswith("v0="):
            return False
        if abs(self.clock() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
            return False
        return hmac.compare_digest(self.sign(timestamp, body), signature)

    def sign(self, timestamp: str, body: bytes) -> str:
        """Slack's v0 signature of `body` sent at `timestamp`."""
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new(self.key, base, hashlib.sha256).hexdigest()


def spell_out_payload_word(body: bytes, content_type: str) -> bytes:
    """A form body whose fields mention "payload" (a slash command's text, a channel named
    #payload-eng) with that word percent-encoded ("p%61yload"), which parses to the same form.

    Bolt's parse_body takes any form body containing the substring "payload" for an
    interactivity request and, finding no `payload` field, parses it as empty: the command
    would be lost. The encoded spelling keeps every field's value and avoids that guess.
    """
    if not content_type.startswith("application/x-www-form-urlencoded") or b"payload" not in body:
        return body
    if any(part.startswith(b"payload=") for part in body.split(b"&")):
        return body
    return body.replace(b"payload", b"p%61yload")


def build_wsgi(
    app: App,
    check: Callable[[], None],
    *,
    signing_secret: str | None = None,
    health_deadline: float = HEALTH_DEADLINE_SECONDS,
) -> WSGIApplication:
    """Slack requests go to Bolt once signed and well-formed (401 / 400 otherwise);
    /healthz answers 200 when the database answers within the deadline, else 503."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)
    health = HealthCheck(check, health_deadline)
    gate = SignatureGate(signing_secret) if signing_secret else None

    def events(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        if body is None:
            return _respond(start_response, "413 Content Too Large", b"request too large\n")
        if gate is None and not _numeric_timestamp(environ):
            # Bolt verifies instead, and slack_sdk's verifier raises (a 500) on such a stamp.
            gate_refused = True
        else:
            gate_refused = gate is not None and not gate.valid(environ, body)
        if gate_refused:
            # Nothing is logged: a flood of forged requests must not fill the disk.
            return _respond(
                start_response,
                "401 Unauthorized",
                b'{"error": "invalid signature"}',
                "application/json",
            )
        try:
            check_body(body, str(environ.get("CONTENT_TYPE", "")))
        except BadBody as exc:
            log.warning("refused a signed Slack request: %s", exc)
            return _respond(start_response, "400 Bad Request", b"malformed request\n")
        if gate is not None:
            spelled = spell_out_payload_word(body, str(environ.get("CONTENT_TYPE", "")))
            if spelled != body:
                # Bolt verifies the signature again, on the body it is given.
                stamp = str(environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"]).strip()
                environ["HTTP_X_SLACK_SIGNATURE"] = gate.sign(stamp, spelled)
                body = spelled
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return bolt(environ, start_response)

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            problem = health.problem()
            if problem is None:
                return _respond(start_response, "200 OK", b"ok\n")
            log.warning("health check failed: %s", problem)
            return _respond(start_response, "503 Service Unavailable", b"database unavailable\n")
        if path == EVENTS_PATH and method == "POST":
            return events(environ, start_response)
        return bolt(environ, start_response)

    return wsgi
