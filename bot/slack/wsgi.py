"""The WSGI application of HTTP mode: Bolt's adapter at /slack/events, plus GET /healthz."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine, text

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
log = logging.getLogger(__name__)


def database_check(engine: Engine) -> Callable[[], None]:
    """A check that runs `SELECT 1` on the database (raises when it is unreachable)."""

    def check() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def _numeric_timestamp(environ: WSGIEnvironment) -> bool:
    return str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")).strip().isdigit()


def build_wsgi(app: App, check: Callable[[], None]) -> WSGIApplication:
    """Slack requests go to Bolt; /healthz answers 200 when the database answers, else 503."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            try:
                check()
                status, body = "200 OK", b"ok\n"
            except Exception as exc:  # any failure means "not healthy", said in one line
                log.warning("health check failed: %s", exc)
                status, body = "503 Service Unavailable", b"database unavailable\n"
            start_response(
                status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if environ.get("PATH_INFO") == EVENTS_PATH and not _numeric_timestamp(environ):
            # slack_sdk's verifier raises (a 500) on a non-numeric timestamp: refuse it here.
            body = b'{"error": "invalid request"}'
            start_response(
                "401 Unauthorized",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return bolt(environ, start_response)

    return wsgi
