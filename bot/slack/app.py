"""Building the Bolt app: one WebClient, the listeners, the error handler."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.slack.client import build_client
from bot.slack.errors import register_error_handler
from bot.slack.handlers import commands, home, review, write
from bot.slack.handlers.common import Deps, ExportRunner


def build_app(
    rt: Runtime,
    *,
    client: WebClient | None = None,
    exporter: ExportRunner | None = None,
    socket_mode: bool = False,
) -> App:
    """The crowdtune Bolt app; HTTP mode verifies Slack's signature on every request."""
    settings = rt.settings
    secret = settings.slack_signing_secret
    if not socket_mode and secret is None:
        raise ValueError("SLACK_SIGNING_SECRET is required in HTTP mode")
    app = App(
        client=client or build_client(settings),
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode traffic is authenticated by the app token, not by signatures.
        request_verification_enabled=not socket_mode,
        # The token is checked once at startup (serve), not on every process start.
        token_verification_enabled=False,
        # Ack first, then work in a listener thread (Slack waits 3 s for the ack).
        process_before_response=False,
    )
    deps = Deps(
        sessions=rt.sessions,
        quorum=rt.quorum,
        gate=rt.quality_gate,
        admins=settings.admins,
        export_args=settings.export_args,
        exporter=exporter,
    )
    for module in (commands, write, review, home):
        module.register(app, deps)
    register_error_handler(app)
    return app
