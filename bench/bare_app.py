"""The baseline of bench/ack_bench.py: a Bolt app that only acks, served like ours (gunicorn).

SLACK_API_URL=... SLACK_SIGNING_SECRET=... gunicorn 'bench.bare_app:create()'
"""

from __future__ import annotations

import os
import re
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def create() -> Any:
    """The bare app's WSGI callable, with the same Bolt settings as crowdtune's."""
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/crowdtune")
    def command(ack: Ack) -> None:
        ack()

    @app.action("review_approve")
    def approve(ack: Ack) -> None:
        ack()

    @app.view(re.compile(".*"))
    def submission(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app)
