"""The quality report in Slack: a short mrkdwn summary (the full page is `crowdtune report`)."""

from __future__ import annotations

from bot.slack.escape import escape_mrkdwn
from store.report import Alpha, CategoryAgreement, OriginRow, Report

FLAG_WORDS = {
    "approves_almost_everything": "approves almost everything",
    "disagrees_with_decisions": "often disagrees with the final decision",
}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _alpha(a: Alpha) -> str:
    value = "n/a" if a.value is None else f"{a.value:.2f}"
    return f"α = {value} ({_count(a.items, 'example')}, {_count(a.reviewers, 'reviewer')})"


def agreement_line(a: CategoryAgreement) -> str:
    """One line: alpha on verdicts and on ratings, with what each rests on."""
    return f"*Reviewer agreement*: verdicts {_alpha(a.verdicts)}; ratings {_alpha(a.ratings)}"


def _money(value: float | None) -> str:
    return "" if value is None else f", {value:.3g} per accepted in LLM cost"


def _conversations(o: OriginRow) -> str:
    if not o.conversations:
        return ""
    return f", {_count(o.conversations, 'conversation')} ({_count(o.turns, 'turn')})"


def report_text(report: Report) -> str:
    """The summary posted by `/crowdtune report`."""
    since = f" since {report.since:%Y-%m-%d}" if report.since else ""
    lines = [f"*crowdtune quality report*{since} ({report.generated_at:%Y-%m-%d})", ""]
    lines.append(agreement_line(report.overall))
    rated = [a for a in report.agreement[1:] if a.verdicts.value is not None]
    if rated:
        low = min(rated, key=lambda a: a.verdicts.value or 0.0)
        lines.append(
            f"Lowest on verdicts: `{escape_mrkdwn(low.category)}` α = {low.verdicts.value:.2f} "
            "(its guideline may be unclear)"
        )
    lines += ["", "*Sourcing methods*"]
    for o in report.origins:
        rate = "n/a" if o.approval_rate is None else f"{o.approval_rate:.0%}"
        minutes = (
            "time not recorded"
            if o.person_minutes_per_accepted is None
            else f"{o.person_minutes_per_accepted:.1f} person-min per accepted"
        )
        d2 = o.diversity.distinct_2
        lines.append(
            f"• {escape_mrkdwn(o.origin)}: {o.accepted:,} accepted of {o.examples:,} "
            f"({rate} approved), {minutes}"
            f"{_conversations(o)}"
            f"{_money(o.cost_per_accepted) if o.origin == 'llm' else ''}"
            f"{'' if d2 is None else f', distinct-2 {d2:.2f}'}"
        )
    if not report.origins:
        lines.append("_No examples yet._")
    flagged = report.flagged
    if flagged:
        lines += ["", "*Reviewers to talk to*"]
        for r in flagged:
            why = ", ".join(FLAG_WORDS[f] for f in r.flags)
            lines.append(f"• {escape_mrkdwn(r.display_name or r.slack_user_id)}: {why}")
    lines += ["", "Full report with every figure: `crowdtune report --out report.html`"]
    return "\n".join(lines)
