"""Copy-paste hygiene: Wikipedia citation brackets and instructions that are only a link.

"Response copied from the context" lives in `store.validation.response_copies_context` and
the per-category minimum lengths in `store.validation.validate_pair`; both are re-exported
here so callers find every hygiene rule in one place.
"""

from __future__ import annotations

import re

from store.validation import response_copies_context

__all__ = ["has_citations", "is_only_url", "response_copies_context", "strip_citations"]

# [1], [12], [a], [b], [note 3], [citation needed], [clarification needed], [verification
# needed], [who?], [when?], [by whom?], [according to whom?], [dubious – discuss], [page needed]…
_CITATION = re.compile(
    r"\[(?:"
    r"\d{1,3}(?:[,–\-]\s?\d{1,3})*"
    r"|[a-z]{1,2}"
    r"|(?:note|nb|n|fn)\s?\d{1,3}"
    r"|(?:citation|clarification|verification|page|year|date|source|quotation|attribution)"
    r" needed"
    r"|(?:who|when|where|which|why|how|by whom|according to whom|dubious|disputed|original"
    r" research|failed verification|unreliable source|better source needed|full citation"
    r" needed)\??(?:\s?[–\-]\s?discuss)?"
    r")\](?!\s?[=(])",  # not code: arr[1] = x, f[a](x)
    re.I,
)
# Space the bracket leaves before punctuation ("Paris [1]." -> "Paris.") or doubled spaces.
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[.,;:!?)])")
_DOUBLE_SPACE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_URL = re.compile(
    r"^<?(?:(?:https?|ftp)://|www\.)[^\s<>]+>?$|^<(?:https?|ftp)://[^\s|>]+\|[^>]*>$",
    re.I,
)


def has_citations(text: str) -> bool:
    """True when the text carries Wikipedia-style citation brackets such as `[1]`."""
    return _CITATION.search(text) is not None


def strip_citations(text: str) -> str:
    """The text with citation brackets removed and the spacing around them repaired."""
    if not has_citations(text):
        return text
    out = _CITATION.sub("", text)
    out = _SPACE_BEFORE_PUNCT.sub("", out)
    return _DOUBLE_SPACE.sub(" ", out)


def is_only_url(text: str) -> bool:
    """True when the text is nothing but one link (plain, or in Slack's `<url|label>` form)."""
    return _URL.match(text.strip()) is not None
