"""Escaping user-written text for Slack mrkdwn, so it can never ping or hide a link."""

from __future__ import annotations

# Slack's own rule: only these three are control characters in message text.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_mrkdwn(text: str) -> str:
    """`&`, `<`, `>` as entities: `<!channel>`, `<@U1>`, `<https://x|y>` become inert text."""
    return text.translate(_ESCAPES)


def clip(text: str, limit: int, *, note: str = "…") -> str:
    """`text` cut to at most `limit` characters (ending with `note` when cut)."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(note))] + note


def _quote(escaped: str) -> str:
    return "\n".join("> " + line if line else ">" for line in escaped.splitlines())


def quote_block(text: str, limit: int) -> str:
    """Escaped user text as a mrkdwn quote, at most `limit` characters; long text is shortened."""
    quoted = _quote(escape_mrkdwn(text.strip()) or "_(empty)_")
    if len(quoted) <= limit:
        return quoted
    suffix = "\n_… (shortened here; Edit shows the full text)_"
    budget = limit - len(suffix)
    raw = text.strip()
    # Cut the raw text (never an entity in half); each cut removes at least the overflow.
    while len(quoted := _quote(escape_mrkdwn(raw))) > budget:
        raw = raw[: len(raw) - (len(quoted) - budget)]
    return quoted + suffix
