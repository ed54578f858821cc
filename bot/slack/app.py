"""Building the Bolt app: one WebClient, the listeners, the error handler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.commands.export import slack_exporter
from bot.commands.report import slack_reporter
from bot.runtime import Runtime
from bot.slack.client import build_client
from bot.slack.errors import register_error_handler
from bot.slack.handlers import (
    capture,
    categories,
    commands,
    consent,
    home,
    interests,
    review,
    write,
)
from bot.slack.handlers.common import Deps, ExportRunner

# Threads running the lazy halves of listeners (the Web API calls after each ack), in the
# process that acked. Few on purpose: they mostly wait on Slack, and many of them would hold
# the GIL away from the threads answering Slack.
FOLLOW_UP_THREADS = 4


def build_app(
    rt: Runtime,
    *,
    client: WebClient | None = None,
    exporter: ExportRunner | None = None,
    verify_signatures: bool = True,
    follow_up_threads: int = FOLLOW_UP_THREADS,
) -> App:
    """The crowdtune Bolt app; it verifies Slack's signature on every request unless told not
    to (Socket Mode traffic is authenticated by the app token)."""
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
        # Requests nothing handles go to our error handler: one log line, not Bolt's
        # multi-line suggestion per request.
        raise_error_for_unhandled_request=True,
        # Each listener commits the person's change, then acks, in the request thread; its Web
        # API calls follow in Bolt's lazy listeners (handlers.listeners): nothing a person did
        # is only in memory once Slack has its ack.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            follow_up_threads, thread_name_prefix="slack-follow-up"
        ),
    )
    deps = Deps(
        sessions=rt.sessions,
        quorum=rt.quorum,
        gate=rt.quality_gate,
        admins=settings.admins,
        export_args=settings.export_args,
        exporter=exporter or slack_exporter(rt),
        reporter=slack_reporter(rt),
        one_at_a_time=rt.engine.dialect.name == "sqlite",
        reads=rt.read_sessions,
        consent_days=settings.consent_days,
    )
    for module in (commands, write, review, home, categories, interests, capture, consent):
        module.register(app, deps)
    register_error_handler(app)
    return app
