"""Plain-text replies: help, stats, leaderboard, targets, thank-yous, progress bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.plurals import counted
from bot.slack.escape import escape_mrkdwn
from store.stats import CategoryCounts, ConversationCounts, LeaderRow

BAR_WIDTH = 12


def progress_bar(done: int, target: int, width: int = BAR_WIDTH) -> str:
    """`▓▓▓▓░░░░ 40%` toward a target (full when the target is zero)."""
    ratio = 1.0 if target <= 0 else min(1.0, done / target)
    filled = round(ratio * width)
    return "▓" * filled + "░" * (width - filled) + f" {round(ratio * 100)}%"


def conversation_note(conv: ConversationCounts | None) -> str:
    """` · 2 conversations (6 turns)`: a category's conversations, or nothing without any."""
    if conv is None or not conv.total:
        return ""
    return f" · {counted(conv.total, 'conversation')} ({counted(conv.turns, 'turn')})"


def stats_text(
    rows: Sequence[CategoryCounts], conversations: Mapping[str, ConversationCounts] | None = None
) -> str:
    """Per-category progress toward targets; how many of the examples are conversations."""
    convs = conversations or {}
    lines = ["*Progress toward targets* (approved + pending / target)"]
    for c in rows:
        if not c.active:
            continue
        lines.append(
            f"`{progress_bar(c.approved + c.pending, c.target)}` {escape_mrkdwn(c.name)}: "
            f"{c.approved} approved, {c.pending} pending / {c.target} · gap {c.gap}"
            f"{conversation_note(convs.get(c.slug))}"
        )
    if convs:
        n, turns = sum(c.total for c in convs.values()), sum(c.turns for c in convs.values())
        lines.append(f"Conversations: {n} in all, {turns} turns.")
    return "\n".join(lines)


def leaderboard_text(rows: Sequence[LeaderRow], *, title: str = "Top contributors") -> str:
    """Top contributors by score; names are escaped (no pings)."""
    if not rows:
        return f"*{title}*\nNobody yet: be the first with `/crowdtune write`."
    lines = [f"*{title}*"]
    for i, r in enumerate(rows, 1):
        name = escape_mrkdwn(r.display_name or r.slack_user_id)
        lines.append(
            f"{i}. {name}: {r.approved} approved, {r.written} written, {r.reviews} reviews"
        )
    return "\n".join(lines)


def targets_text(rows: Sequence[CategoryCounts]) -> str:
    """Targets and gaps for admins."""
    lines = ["*Targets* (change with `/crowdtune targets set SLUG N`)"]
    for c in rows:
        state = "" if c.active else " (inactive)"
        lines.append(f"`{c.slug}`{state}: target {c.target}, approved {c.approved}, gap {c.gap}")
    return "\n".join(lines)
