"""Text aimed at a model or at readers rather than being data: prompt injection and chat
markup that would ping people or hide a link (`<!channel>`, `<@U123>`, `<https://x|y>`)."""

from __future__ import annotations

import re

PROMPT_INJECTION = "prompt_injection"

# Wording that addresses the model reading the text, not the task: the common injection forms.
_TO_MODEL = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|"
    r"preceding|all|your|the system|any)\b[^.\n]{0,30}?\b(?:instructions?|prompts?|rules|"
    r"directions|guidelines)\b"
    r"|\b(?:system prompt|developer message)\s*[:=]"
    r"|\byou are now\b(?: in)? (?:DAN|developer mode|jailbroken|unrestricted)\b"
    r"|\breveal (?:your|the) (?:system )?(?:prompt|instructions)\b",
    re.I,
)
# Angle-bracket sequences a chat client turns into pings, mentions or disguised links.
_MARKUP = re.compile(r"<(?:[!@#][^<>\n]{0,80}|(?:https?|mailto|ftp):[^<>\n|]{0,2000}\|[^<>\n]*)>")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def find_injection(text: str) -> list[str]:
    """What in `text` is aimed at a model or at readers: "instructions", "markup" (or none)."""
    kinds = []
    if _TO_MODEL.search(text):
        kinds.append("instructions")
    if _MARKUP.search(text):
        kinds.append("markup")
    return kinds


def defang_markup(text: str) -> str:
    """`text` with every ping/mention/link sequence escaped as entities, so no client that
    shows it, escaped or not, turns it into a broadcast; other text is left as written."""
    return _MARKUP.sub(lambda m: m.group(0).translate(_ESCAPES), text)
