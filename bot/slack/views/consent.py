"""The consent request a quoted author gets in a DM (exactly their quoted text, Allow /
Decline) and what replaces it once answered."""

from __future__ import annotations

from typing import Any

from bot.slack.escape import escape_mrkdwn, quote_block
from bot.slack.views.provenance import safe_link
from store.enums import ConsentStatus

ALLOW_ACTION = "consent_allow"
DECLINE_ACTION = "consent_decline"
QUOTE_BUDGET = 2900


def _section(body: str, block_id: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": body}}


def request_text(capturer: str) -> str:
    """The notification text of the request (escaped)."""
    return f"{escape_mrkdwn(capturer)} would like to use your words as training data. Allow?"


def request_blocks(
    consent_id: int, *, capturer: str, quoted: str, days: int, permalink: str | None
) -> list[dict[str, Any]]:
    """The request: who asks, exactly the quoted text (escaped), and the two buttons."""
    link = safe_link(permalink)
    where = f"<{link.replace('&', '&amp;')}|a Slack thread>" if link else "a Slack thread"
    head = (
        f":wave: *{escape_mrkdwn(capturer)}* saved {where} as a training example for our "
        "assistant. It quotes you: this is exactly the text of yours it holds."
    )
    foot = (
        "Nobody reviews it, no AI model sees it and no dataset holds it until everyone quoted "
        f"allows. *Decline* (or no answer within {days} days) deletes the quoted text."
    )
    value = str(consent_id)
    return [
        _section(head, "consent_head"),
        _section(quote_block(quoted, QUOTE_BUDGET), "consent_quote"),
        _section(foot, "consent_foot"),
        {
            "type": "actions",
            "block_id": "consent",
            "elements": [
                {
                    "type": "button",
                    "action_id": ALLOW_ACTION,
                    "text": {"type": "plain_text", "text": "Allow"},
                    "style": "primary",
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": DECLINE_ACTION,
                    "text": {"type": "plain_text", "text": "Decline"},
                    "style": "danger",
                    "value": value,
                },
            ],
        },
    ]


ANSWERED = {
    ConsentStatus.ALLOWED: ":white_check_mark: Thank you: you allowed your words to be used.",
    ConsentStatus.DECLINED: ":wastebasket: Declined: the text quoted from you has been deleted.",
    ConsentStatus.EXPIRED: (
        ":hourglass: This request expired without an answer, so the text quoted from you has "
        "been deleted."
    ),
}


WITHDRAWN = (
    ":wastebasket: Thank you. Someone else quoted declined, so this example was withdrawn "
    "and nothing of yours is kept."
)


def answered_text(status: ConsentStatus, *, withdrawn: bool = False) -> str:
    """What the request says once answered; an Allow on a withdrawn example says so."""
    return WITHDRAWN if withdrawn and status == ConsentStatus.ALLOWED else ANSWERED[status]


def answered_blocks(status: ConsentStatus, *, withdrawn: bool = False) -> list[dict[str, Any]]:
    """What the request becomes once answered (or expired): no quote, no buttons."""
    return [_section(answered_text(status, withdrawn=withdrawn), "consent_done")]
