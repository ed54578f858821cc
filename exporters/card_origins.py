"""The dataset card's per-origin table: what each sourcing method contributes to this export."""

from __future__ import annotations

from store.report import OriginMix


def origin_table(mix: list[OriginMix]) -> list[str]:
    """Markdown lines: rows, share and reviewers' mean 1–5 rating per origin (empty: no rows)."""
    if not mix:
        return []
    lines = [
        "| origin | rows | share | rated rows | mean rating (1–5) |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in mix:
        rating = "–" if m.mean_rating is None else f"{m.mean_rating:.2f}"
        lines.append(f"| {m.origin} | {m.rows:,} | {m.share:.1%} | {m.rated:,} | {rating} |")
    return lines
