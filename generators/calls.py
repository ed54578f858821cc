"""One chat-completion request with our own retries: backoff, Retry-After, budget, outcomes."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from generators.parsing import BadItem, Candidate, MalformedAnswer, parse_answer, read_completion

log = logging.getLogger(__name__)

SleepFn = Callable[[float], Awaitable[None]]
# Called after every attempt, sent or not: (outcome, prompt_tokens, completion_tokens).
UsageFn = Callable[[str, int, int], Awaitable[None]]

RETRYABLE = frozenset(
    {
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
        "malformed",
        "truncated",
        "empty",
    }
)


@dataclass
class RetryPolicy:
    """How often and how long to wait; `sleep` (asyncio.sleep when None) is injected so tests
    never wait on the clock."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0
    sleep: SleepFn | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before attempt `attempt + 1`: the server's Retry-After, else backoff + jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        backoff = self.base_delay * (2 ** (attempt - 1))
        return float(min(self.max_delay, backoff * (0.5 + self.rng.random() / 2)))


class TokenBudget:
    """Tokens left today; each attempt reserves its worst case first so the budget is never
    exceeded by requests in flight at the same time."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.reserved = 0
        self.spent = 0

    def reserve(self, tokens: int) -> bool:
        """Hold `tokens` for one request, or say no when they would break the budget."""
        if self.spent + self.reserved + tokens > self.remaining:
            return False
        self.reserved += tokens
        return True

    def settle(self, reserved: int, used: int) -> None:
        """Replace a reservation with what the request really used."""
        self.reserved -= reserved
        self.spent += used


@dataclass
class CallResult:
    """How a request ended after retries, with what it returned."""

    outcome: str
    candidates: list[Candidate] = field(default_factory=list)
    bad_items: list[BadItem] = field(default_factory=list)
    attempts: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    detail: str = ""


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(raw) * scale
        except ValueError:
            return None  # an HTTP date: fall back to our backoff
    return None


@dataclass
class _Attempt:
    outcome: str
    detail: str = ""
    retry_after: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    bad_items: list[BadItem] = field(default_factory=list)


def _deadline(client: AsyncOpenAI) -> float | None:
    # The client's timeout bounds each read; we also hold the whole request to it, so a
    # server trickling a byte at a time cannot keep a request alive for ever.
    timeout = client.timeout
    if isinstance(timeout, int | float):
        return float(timeout)
    total = getattr(timeout, "read", None)
    return float(total) if isinstance(total, int | float) else None


async def _send(client: AsyncOpenAI, params: dict[str, Any]) -> tuple[bytes, str] | _Attempt:
    """The raw body and content type of one request, or the failed attempt."""
    try:
        async with asyncio.timeout(_deadline(client)):
            raw = await client.chat.completions.with_raw_response.create(**params)
            return raw.content, raw.headers.get("content-type", "")
    except TimeoutError:
        return _Attempt("timeout", "no complete answer within the timeout")
    except openai.RateLimitError as exc:
        return _Attempt("rate_limited", str(exc.message), _retry_after(exc))
    except openai.APITimeoutError:
        return _Attempt("timeout", "no answer within the timeout")
    except openai.APIConnectionError as exc:
        return _Attempt("connection_error", str(exc))
    except openai.APIStatusError as exc:
        if exc.status_code >= 500:
            return _Attempt("server_error", f"HTTP {exc.status_code}", _retry_after(exc))
        return _Attempt(f"client_error_{exc.status_code}", str(exc.message))


async def _attempt(client: AsyncOpenAI, params: dict[str, Any]) -> _Attempt:
    sent = await _send(client, params)
    if isinstance(sent, _Attempt):
        return sent
    try:
        completion = read_completion(*sent)
    except MalformedAnswer as exc:
        return _Attempt("malformed", str(exc))
    pt, ct = completion.usage if completion.usage else (-1, -1)
    if not completion.has_choice:
        return _Attempt("empty", "no choices", prompt_tokens=pt, completion_tokens=ct)
    if completion.refusal or completion.finish_reason == "content_filter":
        return _Attempt("refusal", completion.refusal or "content filter", None, pt, ct)
    content = completion.content.strip()
    if not content:
        return _Attempt("empty", "empty content", None, pt, ct)
    try:
        good, bad = parse_answer(content)
    except MalformedAnswer as exc:
        outcome = "truncated" if completion.finish_reason == "length" else "malformed"
        return _Attempt(outcome, str(exc), None, pt, ct)
    return _Attempt("ok", "", None, pt, ct, good, bad)


def charged_usage(got: _Attempt, estimate: int, max_tokens: int) -> tuple[int, int]:
    """Tokens to count for an attempt: the reservation when the server gave no usage (-1),
    reported figures clamped to the reservation (with a warning) when they exceed it."""
    completion_cap = min(max_tokens, estimate)
    if got.prompt_tokens < 0:
        return estimate - completion_cap, completion_cap
    ct = min(got.completion_tokens, completion_cap)
    pt = min(got.prompt_tokens, estimate - ct)
    if (pt, ct) != (got.prompt_tokens, got.completion_tokens):
        log.warning(
            "LLM server reported usage %d+%d tokens above the %d reserved; counting %d+%d",
            got.prompt_tokens,
            got.completion_tokens,
            estimate,
            pt,
            ct,
        )
    return pt, ct


async def call_with_retries(
    client: AsyncOpenAI,
    params: dict[str, Any],
    *,
    policy: RetryPolicy,
    budget: TokenBudget,
    estimate: int,
    on_usage: UsageFn,
    structured_ok: list[bool],
) -> CallResult:
    """Send one request until it succeeds, fails for good, or the budget says stop.

    `structured_ok` is shared by all requests of a run: the first server that rejects
    `response_format` turns it off for the rest, and we parse plain JSON instead.
    """
    result = CallResult(outcome="not_sent")
    sleep = policy.sleep or asyncio.sleep
    attempt = 0
    while attempt < policy.max_attempts:
        if not budget.reserve(estimate):
            result.outcome, result.detail = "budget", "daily token budget exhausted"
            await on_usage("budget", 0, 0)
            return result
        send = dict(params)
        if not structured_ok[0]:
            send.pop("response_format", None)
        attempt += 1
        got = await _attempt(client, send)
        if got.prompt_tokens < 0 or got.prompt_tokens + got.completion_tokens > 0:
            got.prompt_tokens, got.completion_tokens = charged_usage(
                got, estimate, int(send.get("max_tokens") or estimate)
            )
        budget.settle(estimate, got.prompt_tokens + got.completion_tokens)
        await on_usage(got.outcome, got.prompt_tokens, got.completion_tokens)
        result.attempts = attempt
        result.prompt_tokens += got.prompt_tokens
        result.completion_tokens += got.completion_tokens
        result.outcome, result.detail = got.outcome, got.detail
        if got.outcome == "client_error_400" and "response_format" in send:
            # Older local servers reject json_schema: ask again without it, not counted.
            structured_ok[0] = False
            attempt -= 1
            continue
        if got.outcome == "ok":
            result.candidates, result.bad_items = got.candidates, got.bad_items
            return result
        if got.outcome not in RETRYABLE or attempt >= policy.max_attempts:
            return result
        wait = policy.delay(attempt, got.retry_after)
        result.retries += 1
        result.waits.append(wait)
        await sleep(wait)
    return result
