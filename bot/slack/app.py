"""Building the Bolt app: one WebClient, the listeners, the error handler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.commands.export import slack_exporter
from bot.runtime import Runtime
from bot.slack.client import build_client
from bot.slack.errors import register_error_handler
from bot.slack.handlers import categories, commands, home, interests, review, write
from bot.slack.handlers.common import Deps, ExportRunner

# Threads running listeners' work after the ack when it runs in this process (Socket Mode,
# or while gunicorn's work processes are unreachable: see bot.slack.work). Few on purpose: work
# in many threads holds the GIL away from the threads answering Slack.
WORK_THREADS = 4


def build_app(
    rt: Runtime,
    *,
    client: WebClient | None = None,
    exporter: ExportRunner | None = None,
    verify_signatures: bool = True,
    work_threads: int = WORK_THREADS,
) -> App:
    """The crowdtune Bolt app; it verifies Slack's signature on every request unless told not
    to (Socket Mode traffic is authenticated by the app token, forwarded work by its socket)."""
    settings = rt.settings
    secret = settings.slack_signing_secret
    if verify_signatures and secret is None:
        raise ValueError("SLACK_SIGNING_SECRET is required in HTTP mode")
    app = App(
        client=client or build_client(settings),
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=verify_signatures,
        # The token is checked once at startup (serve), not on every process start.
        token_verification_enabled=False,
        # Listeners ack in the request thread and their work runs as Bolt lazy listeners
        # (see handlers.common.lazily): the ack never waits for the pool or the database.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(work_threads, thread_name_prefix="slack-work"),
    )
    deps = Deps(
        sessions=rt.sessions,
        quorum=rt.quorum,
        gate=rt.quality_gate,
        admins=settings.admins,
        export_args=settings.export_args,
        exporter=exporter or slack_exporter(rt),
    )
    for module in (commands, write, review, home, categories, interests):
        module.register(app, deps)
    register_error_handler(app)
    return app
