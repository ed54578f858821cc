"""The report's charts as PNG bytes (matplotlib, no display), embedded by the HTML page."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # no display in a worker or CI; must precede pyplot's import
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from store.report import OriginRow, Report

# One colour per origin, the same in every chart (colour-blind safe, Okabe-Ito).
ORIGIN_COLOURS = {
    "human": "#0072B2",
    "llm": "#E69F00",
    "imported": "#009E73",
    "transformed": "#CC79A7",
    "captured": "#56B4E9",
}
VERDICT_COLOUR = "#0072B2"
RATING_COLOUR = "#E69F00"
# Krippendorff's own reading: >= 0.8 reliable, 0.667-0.8 tentative conclusions only.
ALPHA_GOOD, ALPHA_TENTATIVE = 0.8, 0.667


def _png(fig: Figure) -> bytes:
    try:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buf.getvalue()


def _colour(origin: str) -> str:
    return ORIGIN_COLOURS.get(origin, "#777777")


def _tidy(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def agreement_chart(report: Report) -> bytes:
    """Alpha on verdicts and on ratings per category (overall first), with reading bands."""
    rows = report.agreement
    names = [a.category for a in rows]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.4))
    y = list(range(len(names)))
    h = 0.38
    verdicts = [a.verdicts.value or 0.0 for a in rows]
    ratings = [a.ratings.value or 0.0 for a in rows]
    ax.barh([v - h / 2 for v in y], verdicts, h, color=VERDICT_COLOUR, label="verdicts (nominal)")
    ax.barh([v + h / 2 for v in y], ratings, h, color=RATING_COLOUR, label="ratings (ordinal)")
    for i, a in enumerate(rows):
        for value, dy in ((a.verdicts.value, -h / 2), (a.ratings.value, h / 2)):
            label = "n/a" if value is None else f"{value:.2f}"
            ax.text(max(value or 0.0, 0.0) + 0.01, i + dy, label, va="center", fontsize=8)
    ax.axvline(ALPHA_TENTATIVE, color="#999999", linestyle=":", linewidth=1)
    ax.axvline(ALPHA_GOOD, color="#555555", linestyle="--", linewidth=1)
    for x, label in ((ALPHA_TENTATIVE, "tentative"), (ALPHA_GOOD, "reliable")):
        ax.text(x, -0.7, label, ha="center", va="bottom", fontsize=8, color="#555555")
    ax.set_yticks(y, labels=names)
    ax.invert_yaxis()
    low = min([0.0, *verdicts, *ratings])
    ax.set_xlim(min(low - 0.05, 0.0), 1.1)
    ax.set_xlabel("Krippendorff's alpha (1 = full agreement, 0 = chance)")
    ax.set_title("Reviewer agreement", pad=16)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8, frameon=False)
    _tidy(ax)
    return _png(fig)


def _origin_bars(
    report: Report, value: Callable[[OriginRow], float | None], title: str, xlabel: str, fmt: str
) -> bytes:
    rows = report.origins
    fig, ax = plt.subplots(figsize=(5.2, 0.5 * len(rows) + 1.3))
    y = list(range(len(rows)))
    values = [value(r) for r in rows]
    ax.barh(y, [v or 0.0 for v in values], color=[_colour(r.origin) for r in rows])
    top = max([v for v in values if v is not None] or [1.0])
    for i, v in enumerate(values):
        ax.text((v or 0.0) + top * 0.02, i, "n/a" if v is None else fmt.format(v), va="center")
    ax.set_yticks(y, labels=[r.origin for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.25 if top > 0 else 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    _tidy(ax)
    return _png(fig)


def minutes_chart(report: Report) -> bytes:
    """Person-minutes per accepted example, per origin."""
    return _origin_bars(
        report,
        lambda r: r.person_minutes_per_accepted,
        "Person-minutes per accepted example",
        "minutes (writing + reviewing, all attempts)",
        "{:.1f}",
    )


def approval_chart(report: Report) -> bytes:
    """Share of decided examples that were approved, per origin."""
    return _origin_bars(
        report,
        lambda r: r.approval_rate,
        "Approval rate",
        "approved / (approved + rejected)",
        "{:.0%}",
    )


def diversity_chart(report: Report) -> bytes:
    """Distinct-2 (higher: more varied) and nearest-neighbour ROUGE-L (lower: less redundant)."""
    rows = report.origins
    fig, ax = plt.subplots(figsize=(5.2, 0.6 * len(rows) + 1.4))
    y = list(range(len(rows)))
    h = 0.38
    d2 = [r.diversity.distinct_2 or 0.0 for r in rows]
    near = [r.diversity.nearest_rouge_l or 0.0 for r in rows]
    ax.barh([v - h / 2 for v in y], d2, h, color="#009E73", label="distinct-2 (higher = varied)")
    ax.barh([v + h / 2 for v in y], near, h, color="#D55E00", label="nearest ROUGE-L (lower)")
    ax.set_yticks(y, labels=[r.origin for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_title("Diversity of accepted examples")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
    _tidy(ax)
    return _png(fig)


def _weeks(report: Report) -> list[str]:
    found = sorted({w for r in report.origins for w in r.weekly})
    if not found:
        return []
    first, last = date.fromisoformat(found[0]), date.fromisoformat(found[-1])
    out = []
    while first <= last:  # every week, also the empty ones, so gaps show as gaps
        out.append(first.isoformat())
        first += timedelta(weeks=1)
    return out


def weekly_chart(report: Report) -> bytes:
    """Accepted examples per week, stacked by origin."""
    weeks = _weeks(report)
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    bottom = [0] * len(weeks)
    for r in report.origins:
        counts = [r.weekly.get(w, 0) for w in weeks]
        if not any(counts):
            continue
        ax.bar(range(len(weeks)), counts, bottom=bottom, color=_colour(r.origin), label=r.origin)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    step = max(1, len(weeks) // 10)
    ax.set_xticks(range(0, len(weeks), step), labels=weeks[::step], rotation=30, ha="right")
    ax.set_ylabel("accepted examples")
    ax.set_title("Accepted per week (week starting Monday)")
    if weeks:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no accepted examples yet", ha="center", transform=ax.transAxes)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# Name -> (chart function, alt text): the page embeds them in this order.
CHARTS: dict[str, tuple[Callable[[Report], bytes], str]] = {
    "agreement": (agreement_chart, "Krippendorff's alpha per category"),
    "weekly": (weekly_chart, "Accepted examples per week and origin"),
    "minutes": (minutes_chart, "Person-minutes per accepted example per origin"),
    "approval": (approval_chart, "Approval rate per origin"),
    "diversity": (diversity_chart, "Distinct-2 and nearest ROUGE-L per origin"),
}
