"""App Home: personal counts, progress per category, top contributors, Write/Review buttons."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from bot.slack.views.text import leaderboard_text, progress_bar
from store.enums import ExampleKind, TurnRole
from store.models import Example
from store.stats import CategoryCounts, LeaderRow, PersonalCounts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}


INTERESTS_ACTION = "home_interests"
WRITE_CONVERSATION_ACTION = "open_write_conversation"
SNIPPET = 80  # characters of an example's opening words in the list of one's latest
MAX_OPTIONS = 100  # a multi-select holds at most 100 options


def _interests_block(
    categories: Sequence[CategoryCounts], interests: Collection[str]
) -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": clip(c.name, 75)}, "value": c.slug}
        for c in categories
        if c.active
    ][:MAX_OPTIONS]
    element: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": INTERESTS_ACTION,
        "placeholder": {"type": "plain_text", "text": "Pick categories"},
        "options": options,
    }
    chosen = [o for o in options if o["value"] in interests]
    if chosen:
        element["initial_options"] = chosen
    return {
        "type": "section",
        "block_id": "interests",
        "text": {
            "type": "mrkdwn",
            "text": "*What do you like to help with?* I'll suggest these first.",
        },
        "accessory": element,
    }


def latest_text(examples: Sequence[Example]) -> str:
    """One line per example of the person's latest: id, category, pair or conversation (with
    its turns), status and its opening words, escaped."""
    if not examples:
        return "*Your latest*\nNothing yet: write an example or a conversation above."
    lines = ["*Your latest*"]
    for e in examples:
        if e.kind == ExampleKind.CONVERSATION:
            turns = sorted(e.turns, key=lambda t: t.position)
            what = f"conversation of {len(turns)} turns"
            opening = next((t.text for t in turns if t.role == TurnRole.USER), "")
        else:
            what, opening = "single example", e.instruction
        words = escape_mrkdwn(clip(" ".join(opening.split()), SNIPPET))
        status = e.status.value.replace("_", " ")
        lines.append(f"#{e.id} · {escape_mrkdwn(e.category.name)} · {what} · {status} — {words}")
    return "\n".join(lines)


def home_view(
    mine: PersonalCounts,
    categories: Sequence[CategoryCounts],
    leaders: Sequence[LeaderRow],
    *,
    interests: Collection[str] = (),
    latest: Sequence[Example] = (),
) -> dict[str, Any]:
    """The Home tab for one person; `interests` are the slugs they picked, `latest` their most
    recent examples and conversations."""
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
                "a whole conversation, or review what colleagues wrote."
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
                        "text": {"type": "plain_text", "text": "Write a conversation"},
                        "action_id": WRITE_CONVERSATION_ACTION,
                        "value": "",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Review one"},
                        "action_id": "open_review",
                        "value": "",
                    },
                ],
            },
            _interests_block(categories, interests),
            {"type": "divider"},
            _section(
                f"*You so far*\n{mine.written} written · {mine.approved} approved · "
                f"{mine.pending} waiting for review · {mine.reviews} reviews given"
            ),
            _section(latest_text(latest)),
            _section(f"*Progress toward targets* (approved)\n{progress}"),
            _section(leaderboard_text(leaders)),
        ],
    }
