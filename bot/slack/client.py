"""The slack_sdk WebClient: base URL from settings, and retries (lost connections, 5xx, 429s
waiting exactly Retry-After)."""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bot.config import Settings

# A 500/503 from Slack is tried again this many times (with slack_sdk's backoff) before the
# call counts as failed.
SERVER_ERROR_RETRIES = 2


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler waiting exactly `Retry-After` seconds, with an injectable sleep."""

    def __init__(
        self, max_retry_count: int = 3, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        """Wait as long as Slack asked (1 s when it did not say), then try again."""
        if response is None:
            raise error or RuntimeError("429 retry without a response")
        state.next_attempt_requested = True
        wait = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                wait = float(values[0])
        self.sleep(wait)
        state.increment_current_attempt()


def build_client(
    settings: Settings, *, sleep: Callable[[float], None] = time.sleep, timeout: int = 10
) -> WebClient:
    """A WebClient for SLACK_BOT_TOKEN at SLACK_API_URL; retries 429s, 5xx and dropped
    connections."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base_url = (
        settings.slack_api_url
        if settings.slack_api_url.endswith("/")
        else (settings.slack_api_url + "/")
    )
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
            RetryAfterHandler(sleep=sleep),
        ],
    )


def webhook_retry_handlers() -> list[RetryHandler]:
    """Retries of a response_url post: lost connections, 5xx, 429 (Retry-After)."""
    return [
        ConnectionErrorRetryHandler(),
        ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
        RetryAfterHandler(),
    ]
