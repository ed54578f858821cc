"""Slack mrkdwn as HTML: bold, italic, strike, code, quotes, links, mentions and emoji.

Text arrives as Slack stores it: `&`, `<` and `>` written by people are entities, and only the
app's own `<…>` sequences are links or mentions. Everything is HTML-escaped on the way out, so
a person's `<!channel>` or `<script>` shows as the characters they typed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

# The emoji the app uses, and a few common ones; others stay as their :name:.
EMOJI = {
    "white_check_mark": "✅",
    "warning": "⚠️",
    "robot_face": "🤖",
    "mag": "🔍",
    "zzz": "💤",
    "wave": "👋",
    "tada": "🎉",
    "raised_hands": "🙌",
    "no_entry": "⛔",
    "information_source": "ℹ️",
    "grey_question": "❔",
    "pencil": "📝",
    "memo": "📝",
    "bar_chart": "📊",
    "chart_with_upwards_trend": "📈",
    "package": "📦",
    "star": "⭐",
    "trophy": "🏆",
    "thumbsup": "👍",
    "+1": "👍",
    "eyes": "👀",
    "sparkles": "✨",
    "calendar": "📅",
    "inbox_tray": "📥",
    "hourglass": "⌛",
    "x": "❌",
    "heavy_check_mark": "✔️",
}

_CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_SPECIAL = re.compile(r"<([^<>\n]+)>")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)
_HOLE = "\x00{}\x00"
_HOLE_RE = re.compile("\x00(\\d+)\x00")


def unescape_slack(text: str) -> str:
    """Slack's three entities back to characters (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emoji(text: str) -> str:
    """`:tada:` → 🎉 for the emoji known here."""
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def plain_html(text: str) -> str:
    """plain_text objects: escaped, emoji shown, line breaks kept."""
    return html.escape(emoji(text)).replace("\n", "<br>")


class _Holes:
    """Pieces of finished HTML kept out of the way of the emphasis rules."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def keep(self, piece: str) -> str:
        self.pieces.append(piece)
        return _HOLE.format(len(self.pieces) - 1)

    def fill(self, text: str) -> str:
        # A piece may hold holes of its own (a bold mention), so fill until none is left.
        while _HOLE_RE.search(text):
            text = _HOLE_RE.sub(lambda m: self.pieces[int(m.group(1))], text)
        return text


def _special(inner: str, names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        return f'<span class="mention">@{html.escape(label or names.get(uid, uid))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{html.escape(label or target[1:])}</span>'
    if target.startswith("!"):
        word = target[1:].split("^", 1)[0]
        if word in ("channel", "here", "everyone"):
            return f'<span class="mention broadcast">@{word}</span>'
        return html.escape(unescape_slack(label or word))
    if _SAFE_URL.match(target):
        url = unescape_slack(target)
        text = unescape_slack(label) if label else url
        return (
            f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
            f"{html.escape(text)}</a>"
        )
    return html.escape(unescape_slack(f"<{inner}>"))


def _inline(text: str, names: Mapping[str, str]) -> str:
    holes = _Holes()
    text = _CODE_SPAN.sub(
        lambda m: holes.keep(f"<code>{html.escape(unescape_slack(m.group(1)))}</code>"), text
    )
    text = _SPECIAL.sub(lambda m: holes.keep(_special(m.group(1), names)), text)
    out = html.escape(emoji(unescape_slack(text)), quote=False)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _ITALIC.sub(r"<i>\1</i>", out)
    out = _STRIKE.sub(r"<s>\1</s>", out)
    return holes.fill(out)


def _lines(text: str, names: Mapping[str, str]) -> str:
    out: list[str] = []
    quote: list[str] = []

    def flush() -> None:
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote.clear()

    for line in text.split("\n"):
        if line.startswith(">"):
            quote.append(_inline(line[1:].removeprefix(" "), names))
            continue
        flush()
        out.append(_inline(line, names) + "<br>")
    flush()
    html_out = "".join(out)
    return html_out.removesuffix("<br>")


def mrkdwn_html(text: str, names: Mapping[str, str] | None = None) -> str:
    """HTML of a mrkdwn text; `names` maps user ids to the names mentions show."""
    names = names or {}
    parts: list[str] = []
    pos = 0
    for m in _CODE_BLOCK.finditer(text):
        parts.append(_lines(text[pos : m.start()], names))
        parts.append(f"<pre>{html.escape(unescape_slack(m.group(1).strip(chr(10))))}</pre>")
        pos = m.end()
    parts.append(_lines(text[pos:], names))
    return "".join(parts)
