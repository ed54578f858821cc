"""`crowdtune serve`: Socket Mode when SLACK_APP_TOKEN is set, else HTTP through gunicorn."""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.access_log import QuietAccessLog
from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.app import FOLLOW_UP_THREADS, build_app
from bot.slack.client import build_client
from bot.slack.wsgi import EVENTS_PATH, build_wsgi, database_check
from store.db import require_schema

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

log = logging.getLogger(__name__)

# How long a gunicorn worker may take to load the app before it counts as hung.
BOOT_SECONDS = 600.0
# Threads slack_sdk's Socket Mode client handles requests on (its `concurrency` default).
SOCKET_MODE_THREADS = 10


class SettingMissing(Exception):
    """A setting the chosen mode needs is not set; the message names it and how to set it."""


def missing_settings(settings: Settings) -> list[str]:
    """Environment variables the chosen mode needs but that are unset."""
    missing = [] if settings.slack_bot_token else ["SLACK_BOT_TOKEN"]
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        missing.append("SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)")
    return missing


def check_settings(settings: Settings) -> None:
    """Raise SettingMissing naming every missing variable."""
    missing = missing_settings(settings)
    if missing:
        raise SettingMissing(
            "missing setting(s): "
            + ", ".join(missing)
            + ". Set them in the environment or in .env (see README, 'Slack app')."
        )


def check_token(settings: Settings) -> str:
    """Call auth.test once, so a wrong token is a clear message at startup."""
    sdk_log = logging.getLogger("slack_sdk")
    level = sdk_log.level
    # slack_sdk logs each failed attempt at ERROR; the one line below says it better.
    sdk_log.setLevel(logging.CRITICAL)
    try:
        resp = build_client(settings).auth_test()
    except SlackApiError as exc:
        raise SettingMissing(
            f"SLACK_BOT_TOKEN was refused by {settings.slack_api_url}: {exc.response.get('error')}"
        ) from exc
    except OSError as exc:  # URLError, DNS failure, refused connection, TLS error, timeout
        reason = getattr(exc, "reason", None) or exc
        raise SettingMissing(
            f"cannot reach Slack at {settings.slack_api_url} ({reason}); check the network, "
            "or SLACK_API_URL if you set it"
        ) from exc
    finally:
        sdk_log.setLevel(level)
    return f"{resp.get('user')} in {resp.get('team')}"


class Stop(Exception):
    """Raised in the main thread by SIGTERM (see `raise_stop`)."""


def raise_stop(_signum: int, _frame: FrameType | None) -> None:
    """Signal handler: stop the main thread's wait by raising Stop."""
    raise Stop


def finish_follow_ups(app: App) -> None:
    """Wait for the lazy listeners already started (the messages after acks) to finish."""
    app.listener_runner.listener_executor.shutdown(wait=True)


def http_app(rt: Runtime) -> tuple[App, WSGIApplication]:
    """The Bolt app and the WSGI application HTTP mode serves (`crowdtune sandbox` too)."""
    app = build_app(rt)
    secret = rt.settings.slack_signing_secret
    wsgi = build_wsgi(
        app,
        database_check(rt.engine),
        signing_secret=secret.get_secret_value() if secret else None,
    )
    return app, wsgi


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn serving Bolt's WSGI adapter; each worker builds its own app and engine."""

    def __init__(self, rt: Runtime, options: dict[str, Any]) -> None:
        self.rt = rt
        self.options = options
        self.app: App | None = None  # set in each worker by load()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", self._post_fork)
        self.cfg.set("worker_exit", self._worker_exit)

    def _post_fork(self, _server: Any, worker: Any) -> None:
        # gunicorn kills a worker silent for `timeout` s, and loading the app (the
        # near-duplicate index of a large corpus) counts as silence: beat for it meanwhile.
        def beat() -> None:
            deadline = time.monotonic() + BOOT_SECONDS
            while not worker.booted and time.monotonic() < deadline:
                worker.tmp.notify()
                time.sleep(1.0)

        threading.Thread(target=beat, name="boot-heartbeat", daemon=True).start()

    def load(self) -> Any:
        # Built in the worker, after the fork; it answers people, so it waits little for locks.
        threads = int(self.options.get("threads", 1))
        rt = Runtime(self.rt.settings, interactive=True, connections=_connections(threads))
        _warm_up(rt)
        self.app, wsgi = http_app(rt)
        return wsgi

    def _worker_exit(self, _server: Any, _worker: Any) -> None:
        # A worker stopping gracefully sends the messages of the requests it acked first
        # (what those people did is committed already; this is only the reply).
        if self.app is not None:
            finish_follow_ups(self.app)


def _connections(request_threads: int) -> int:
    """Database connections a serving process keeps open: one per request thread, per
    follow-up thread and for the health check, so none is opened per request under load."""
    return request_threads + FOLLOW_UP_THREADS + 1


def _warm_up(rt: Runtime) -> None:
    """Build the near-duplicate index before serving, and keep it out of the GC's way."""
    rt.warm_up()
    # The index is hundreds of thousands of long-lived objects; a full collection walking
    # them stalled every thread, acks too, for 100-300 ms (bench/ack_bench.py's p99).
    # Frozen objects are left out of collections.
    gc.collect()
    gc.freeze()


def _socket_mode(rt: Runtime, app_token: str) -> None:
    """Socket Mode until SIGTERM (or Ctrl-C): then hang up and send the replies still due."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    # Acks travel over the websocket; the follow-ups run in this process's threads.
    app = build_app(rt, verify_signatures=False)
    handler = SocketModeHandler(app, app_token)
    # SIGTERM's default action ends the process at once: the replies to requests already
    # acked (and committed) would never be sent.
    signal.signal(signal.SIGTERM, raise_stop)
    try:
        handler.start()  # type: ignore[no-untyped-call]
    except Stop:
        log.info("Socket Mode stopping; sending the replies still due")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough
        handler.close()  # type: ignore[no-untyped-call]
        finish_follow_ups(app)


def serve(rt: Runtime, *, workers: int = 2, threads: int = 8) -> None:
    """Run until stopped: Socket Mode with an app token, otherwise gunicorn on $PORT."""
    settings = rt.settings
    check_settings(settings)
    who = check_token(settings)
    require_schema(rt.engine, settings.database_url)  # a fresh folder: "run db upgrade"
    database_check(rt.engine)()
    rt.close()  # no connections cross the fork into gunicorn's workers
    if settings.slack_app_token is not None:
        log.info("connected as %s; Socket Mode", who)
        # People wait on it: short lock waits. slack_sdk's Socket Mode client answers
        # requests on SOCKET_MODE_THREADS threads.
        rt = Runtime(settings, interactive=True, connections=_connections(SOCKET_MODE_THREADS))
        _warm_up(rt)
        _socket_mode(rt, settings.slack_app_token.get_secret_value())
        return
    log.info("connected as %s; HTTP mode on :%s%s", who, settings.port, EVENTS_PATH)
    options = {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "accesslog": "-",
        # Forged requests (401) are counted in one line a minute, not logged one by one.
        "logger_class": QuietAccessLog,
    }
    _Gunicorn(rt, options).run()
