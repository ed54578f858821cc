"""Where a captured example came from, for reviewers: a link to the original Slack thread."""

from __future__ import annotations

import re
from typing import Any

from store.enums import Origin
from store.models import Example

# A permalink as chat.getPermalink gives it; anything else (no https, markup characters) is
# not put in a link, so a stored value can never smuggle mrkdwn into the message.
_SAFE_URL = re.compile(r"https://[^\s<>|&]+(?:&[^\s<>|&]+)*")


def safe_link(url: str | None) -> str | None:
    """`url` if it is a plain https URL that can sit inside `<…|…>`, else None."""
    return url if url and _SAFE_URL.fullmatch(url) else None


def provenance_blocks(example: Example) -> list[dict[str, Any]]:
    """A context line linking to the thread a captured example came from (none otherwise)."""
    if example.origin != Origin.CAPTURED or example.capture is None:
        return []
    url = safe_link(example.capture.permalink)
    where = f"<{url.replace('&', '&amp;')}|original thread>" if url else "a Slack thread"
    return [
        {
            "type": "context",
            "block_id": "provenance",
            "elements": [{"type": "mrkdwn", "text": f":link: Captured from {where}"}],
        }
    ]
