"""The DM a nudge sends: what we ask, and buttons to do it or snooze."""

from __future__ import annotations

from typing import Any

from bot.slack.escape import escape_mrkdwn
from store.enums import AssignmentKind


def nudge_message(
    kind: AssignmentKind,
    *,
    category_slug: str | None = None,
    category_name: str | None = None,
    gap: int = 0,
) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks of one nudge."""
    if kind == AssignmentKind.WRITE:
        name = escape_mrkdwn(category_name or "any category")
        text = (
            f":wave: Could you write one *{name}* example today? "
            f"We are {gap} short of the target. It takes about five minutes."
        )
        button = ("Write one", "open_write")
    elif kind == AssignmentKind.VERIFY:
        text = ":robot_face: An AI draft needs a person to check it. Could you take a look?"
        button = ("Verify a draft", "open_review")
    else:
        text = ":mag: Examples written by colleagues are waiting for review. Could you review one?"
        button = ("Review one", "open_review")
    # Write opens the modal on the category asked for; verify shows drafts first.
    value = {AssignmentKind.WRITE: category_slug or "", AssignmentKind.VERIFY: "draft"}.get(
        kind, ""
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "block_id": "nudge",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": button[0]},
                    "action_id": button[1],
                    "value": value,
                    "style": "primary",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Snooze a week"},
                    "action_id": "snooze",
                    "value": "7",
                },
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "`/crowdtune optout` stops these reminders."}],
        },
    ]
    return text, blocks
