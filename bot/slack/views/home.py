"""App Home: personal counts, progress per category, top contributors, Write/Review buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from bot.slack.views.text import leaderboard_text, progress_bar
from store.stats import CategoryCounts, LeaderRow, PersonalCounts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}


def home_view(
    mine: PersonalCounts, categories: Sequence[CategoryCounts], leaders: Sequence[LeaderRow]
) -> dict[str, Any]:
    """The Home tab for one person."""
    progress = "\n".join(
        f"`{progress_bar(c.approved, c.target)}` {escape_mrkdwn(c.name)} "
        f"({c.approved}/{c.target}, {c.pending} pending)"
        for c in categories
        if c.active
    )
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "crowdtune"}},
            _section(
                "Help train our assistant: write an instruction and the answer you would want, "
                "or review what colleagues wrote."
            ),
            {
                "type": "actions",
                "block_id": "home_actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Write an example"},
                        "action_id": "open_write",
                        "value": "",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Review one"},
                        "action_id": "open_review",
                        "value": "",
                    },
                ],
            },
            {"type": "divider"},
            _section(
                f"*You so far*\n{mine.written} written · {mine.approved} approved · "
                f"{mine.pending} waiting for review · {mine.reviews} reviews given"
            ),
            _section(f"*Progress toward targets* (approved)\n{progress}"),
            _section(leaderboard_text(leaders)),
        ],
    }
