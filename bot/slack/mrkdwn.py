"""Slack message text (mrkdwn) as the plain text / Markdown an example keeps.

A message's `text` holds Slack's markup: `<@U123>` mentions, `<#C1|general>` channels,
`<!channel>` broadcasts, `<https://x|label>` links, `*bold*`, `_italic_`, `~strike~` and the
entities `&amp; &lt; &gt;`. An example must hold none of it: a mention becomes the person's
display name (or `[PERSON]`), a broadcast inert text, a link Markdown; emphasis Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

PERSON = "[PERSON]"
_ANGLE = re.compile(r"<([^<>\n]*)>")
# Emphasis as Slack parses it: the marker next to a word character inside, not outside.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_MENTION = re.compile(r"<@([UW][A-Z0-9]{1,20})(?:\|[^<>]*)?>")
_BROADCASTS = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}

# Looks up a user id's display name (None: unknown).
NameOf = Callable[[str], str | None]


def mentioned(text: str) -> list[str]:
    """User ids mentioned (`<@U…>`) in a message's text, in order, once each."""
    seen: dict[str, None] = {}
    for uid in _MENTION.findall(text):
        seen.setdefault(uid, None)
    return list(seen)


def _unescape(text: str) -> str:
    # Slack escapes only these three; &amp; last, so "&amp;lt;" stays "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _angle(inner: str, name_of: NameOf, anonymise: bool) -> str:
    """The plain text of one `<…>` token."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        if anonymise:
            return PERSON
        name = name_of(target[1:]) or label or None
        return f"@{name}" if name else PERSON
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!subteam^"):
        return label or "@group"
    if target.startswith("!date^"):
        return label or ""
    if target.startswith("!"):
        word = target[1:]
        return _BROADCASTS.get(word, label or word)
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    if not label or label == target:
        return target
    return f"[{label}]({target})"


def _emphasis(text: str) -> str:
    text = _BOLD.sub(r"**\1**", text)
    text = _ITALIC.sub(r"*\1*", text)
    return _STRIKE.sub(r"~~\1~~", text)


def to_markdown(text: str, name_of: NameOf, *, anonymise: bool = False) -> str:
    """A message's mrkdwn as Markdown: people by display name (`anonymise`: [PERSON]),
    broadcasts and channels as inert text, links as [label](url), Slack's entities decoded.
    Code spans keep their content as is (only entities decoded)."""
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_plain(text[last : match.start()], name_of, anonymise))
        out.append(_unescape(match.group(0)))
        last = match.end()
    out.append(_plain(text[last:], name_of, anonymise))
    return "".join(out).strip()


def _plain(text: str, name_of: NameOf, anonymise: bool) -> str:
    # Tokens first (their labels may hold markers), then emphasis, then entities.
    parts: list[str] = []
    last = 0
    for match in _ANGLE.finditer(text):
        parts.append(_unescape(_emphasis(text[last : match.start()])))
        parts.append(_angle(_unescape(match.group(1)), name_of, anonymise))
        last = match.end()
    parts.append(_unescape(_emphasis(text[last:])))
    return "".join(parts)


def anonymised(text: str, names: Iterable[str]) -> str:
    """`text` with each of these display names (as `@name` or bare) replaced by [PERSON]."""
    for name in sorted({n for n in names if n.strip()}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w)@?{re.escape(name)}(?!\w)", PERSON, text)
    return text
