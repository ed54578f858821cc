"""The weekly digest: progress toward targets, top contributors, response rates, and a chart."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display in a worker; must precede pyplot's import
import matplotlib.pyplot as plt
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.views.report import agreement_line
from bot.slack.views.text import conversation_note
from store.assignments import ResponseRate, response_rates
from store.db import session_scope
from store.report import CategoryAgreement, agreement_by_category
from store.stats import (
    CategoryCounts,
    ConversationCounts,
    LeaderRow,
    category_counts,
    conversation_counts,
    leaderboard,
)

CHART_NAME = "crowdtune-progress.png"


@dataclass(frozen=True)
class Digest:
    """What one digest reports, for the period [since, until)."""

    since: datetime
    until: datetime
    categories: list[CategoryCounts]
    leaders: list[LeaderRow]
    rates: list[ResponseRate]
    agreement: CategoryAgreement  # to date, over every category
    # The conversations among each category's examples (slug -> counts), to date.
    conversations: dict[str, ConversationCounts] = field(default_factory=dict)


def collect(session: Session, *, now: datetime, days: int = 7, top: int = 5) -> Digest:
    """Gather the digest's figures from the database."""
    since = now - timedelta(days=days)
    return Digest(
        since=since,
        until=now,
        categories=[c for c in category_counts(session) if c.active],
        leaders=leaderboard(session, limit=top, since=since),
        rates=response_rates(session, since=since, until=now),
        agreement=agreement_by_category(session)[0],
        conversations=conversation_counts(session),
    )


def _esc(text: str) -> str:
    # Names are user text: escaped so nobody can ping a channel or hide a link through us.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_text(d: Digest) -> str:
    """The digest as Slack mrkdwn."""
    lines = [
        f"*crowdtune weekly digest* ({d.since:%Y-%m-%d} – {d.until:%Y-%m-%d})",
        "",
        "*Progress*",
    ]
    for c in d.categories:
        done = c.approved + c.pending
        pct = f"{100 * c.approved / c.target:.0f}%" if c.target else "no target"
        lines.append(
            f"• {_esc(c.name)}: {c.approved} approved, {c.pending} pending"
            f" / target {c.target} ({pct}){'' if done < c.target else ' ✓'}"
            f"{conversation_note(d.conversations.get(c.slug))}"
        )
    lines += ["", "*Top contributors this week*"]
    if d.leaders:
        for i, r in enumerate(d.leaders, 1):
            lines.append(
                f"{i}. {_esc(r.display_name or r.slack_user_id)}: {r.written} written,"
                f" {r.approved} approved, {r.reviews} reviews"
            )
    else:
        lines.append("_Nobody contributed this week._")
    lines += ["", "*Response rates*"]
    asked = [r for r in d.rates if r.asked]
    if asked:
        for rr in asked:
            lines.append(
                f"• {rr.kind}: {rr.answered}/{rr.asked} answered ({100 * rr.rate:.0f}%),"
                f" {rr.expired} expired, {rr.skipped} skipped"
            )
    else:
        lines.append("_No requests were sent this week._")
    lines += ["", agreement_line(d.agreement) + " (to date)"]
    return "\n".join(lines)


def render_chart(d: Digest) -> bytes:
    """A PNG bar chart: approved and pending per category against its target."""
    names = [c.slug for c in d.categories]
    approved = [c.approved for c in d.categories]
    pending = [c.pending for c in d.categories]
    targets = [c.target for c in d.categories]
    fig, ax = plt.subplots(figsize=(8, 0.5 * max(len(names), 1) + 1.5), dpi=100)
    try:
        y = list(range(len(names)))
        ax.barh(y, approved, color="#2e7d32", label="approved")
        ax.barh(y, pending, left=approved, color="#a5d6a7", label="pending")
        ax.scatter(targets, y, marker="|", s=400, color="#c62828", label="target", zorder=3)
        ax.set_yticks(y, labels=names)
        ax.invert_yaxis()
        ax.set_xlabel("examples")
        ax.set_title(f"Progress toward targets, {d.until:%Y-%m-%d}")
        ax.legend(loc="lower right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()


def digest_job(
    now: datetime, *, sessions: sessionmaker[Session], client: WebClient, channel: str
) -> dict[str, Any]:
    """Post the digest with its chart to `channel` (files.getUploadURLExternal → complete)."""
    with session_scope(sessions) as s:
        d = collect(s, now=now)
    text = render_text(d)
    png = render_chart(d)
    resp = client.files_upload_v2(
        channel=channel,
        file=png,
        filename=CHART_NAME,
        title="crowdtune progress",
        initial_comment=text,
    )
    file_id = (resp.get("file") or {}).get("id")
    return {"channel": channel, "file_id": file_id, "png_bytes": len(png)}
