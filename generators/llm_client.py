"""The OpenAI-compatible client, built from plain values; retries are ours, not the SDK's."""

from __future__ import annotations

from openai import AsyncOpenAI

# The openai client refuses to start without a key; local servers (Ollama, llama.cpp) ignore it.
PLACEHOLDER_KEY = "not-needed"


def make_client(
    *, base_url: str | None, api_key: str | None, timeout: float, max_retries: int = 0
) -> AsyncOpenAI:
    """An AsyncOpenAI client; `max_retries=0` so that our loop sees and reports every failure."""
    return AsyncOpenAI(
        base_url=base_url or None,
        api_key=api_key or PLACEHOLDER_KEY,
        timeout=timeout,
        max_retries=max_retries,
    )
