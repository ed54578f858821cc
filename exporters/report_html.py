"""The quality report as one self-contained HTML page: inline CSS, charts as data: URIs.

Nothing on the page refers to the network, so it opens the same from a laptop, a CI artefact
or an e-mail attachment.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable
from html import escape
from pathlib import Path

from exporters.report_charts import CHARTS
from store.report import Alpha, OriginRow, Report, ReviewerRow

FLAG_TEXT = {
    "approves_almost_everything": "approves almost everything",
    "disagrees_with_decisions": "often disagrees with the final decision",
}

CSS = """
:root { --ink:#1d2330; --muted:#5f6b7a; --line:#e3e7ee; --bg:#f6f8fb; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1d2330; color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:26px; font-weight:650; }
header p { margin:0; color:#c3cad6; }
main { max-width:1180px; margin:0 auto; padding:24px 40px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:20px 24px;
  margin:0 0 22px; }
h2 { margin:0 0 6px; font-size:19px; }
p.how { color:var(--muted); margin:0 0 14px; max-width:900px; }
.tiles { display:grid; grid-template-columns:repeat(auto-fit, minmax(180px, 1fr)); gap:12px;
  margin-bottom:22px; }
.tile { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.tile b { display:block; font-size:24px; }
.tile span { color:var(--muted); font-size:13px; }
table { border-collapse:collapse; width:100%; font-size:14px; margin:6px 0 12px; }
th, td { text-align:right; padding:6px 10px; border-bottom:1px solid var(--line);
  vertical-align:top; }
th:first-child, td:first-child { text-align:left; }
th { color:var(--muted); font-weight:600; background:#fafbfd; }
td.text { text-align:left; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(460px, 1fr)); gap:16px; }
figure { margin:8px 0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; }
figcaption { color:var(--muted); font-size:13px; }
.flag { display:inline-block; background:#fde8e4; color:#a3321b; border-radius:4px;
  padding:0 6px; margin:1px 0; font-size:12px; }
.na { color:#9aa4b2; }
"""


def _na() -> str:
    return '<span class="na">n/a</span>'


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return _na() if value is None else escape(fmt.format(value))


def _pct(value: float | None) -> str:
    return _num(value, "{:.0%}")


def _alpha_cells(a: Alpha) -> str:
    return f"<td>{_num(a.value, '{:.3f}')}</td><td>{a.items:,}</td><td>{a.reviewers:,}</td>"


def _figure(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img data-chart="{escape(name)}" alt="{escape(alt)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(alt)}</figcaption></figure>'
    )


def _tiles(report: Report) -> str:
    overall = report.overall
    accepted = sum(o.accepted for o in report.origins)
    examples = sum(o.examples for o in report.origins)
    conversations = sum(o.conversations for o in report.origins)
    turns = sum(o.turns for o in report.origins)
    items = [
        (_num(overall.verdicts.value, "{:.2f}"), "alpha on verdicts, all categories"),
        (_num(overall.ratings.value, "{:.2f}"), "alpha on 1–5 ratings"),
        (f"{accepted:,} / {examples:,}", "accepted / all examples"),
        (f"{conversations:,} ({turns:,})", "conversations among them (turns)"),
        (f"{len(report.reviewers):,}", "reviewers"),
        (f"{len(report.flagged):,}", "reviewers flagged"),
    ]
    cells = "".join(f'<div class="tile"><b>{v}</b><span>{escape(t)}</span></div>' for v, t in items)
    return f'<div class="tiles">{cells}</div>'


def _agreement(report: Report, charts: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{escape(a.category)}</td>{_alpha_cells(a.verdicts)}{_alpha_cells(a.ratings)}</tr>"
        for a in report.agreement
    )
    return f"""
<section id="agreement"><h2>Reviewer agreement</h2>
<p class="how">Krippendorff's alpha: 1 means reviewers always agree, 0 means they agree no more
than chance would, below 0 they systematically disagree. Verdicts are nominal (an edit counts
as an approval, as in the quorum); ratings are ordinal on 1–5. <i>Items</i> are examples with
at least two reviews, <i>reviewers</i> the people behind them. Krippendorff reads α ≥ 0.8 as
reliable and 0.667–0.8 as enough for tentative conclusions only; few items make any alpha
unstable. A low alpha in one category usually means its guideline is unclear.</p>
<table><thead><tr><th>category</th><th>α verdicts</th><th>items</th><th>reviewers</th>
<th>α ratings</th><th>items</th><th>reviewers</th></tr></thead><tbody>{rows}</tbody></table>
{charts["agreement"]}
</section>"""


def _reviewers(report: Report) -> str:
    def row(r: ReviewerRow) -> str:
        flags = " ".join(f'<span class="flag">{escape(FLAG_TEXT[f])}</span>' for f in r.flags)
        return (
            f"<tr><td>{escape(r.display_name or r.slack_user_id)}</td><td>{r.reviews:,}</td>"
            f"<td>{_pct(r.approve_rate)}</td><td>{_pct(r.agreement_with_final)}</td>"
            f"<td>{r.decided:,}</td><td>{_num(r.median_seconds, '{:.0f} s')}</td>"
            f'<td class="text">{flags}</td></tr>'
        )

    body = "".join(row(r) for r in report.reviewers) or (
        '<tr><td colspan="7" class="na">No reviews yet.</td></tr>'
    )
    return f"""
<section id="reviewers"><h2>Reviewers</h2>
<p class="how">Per person: reviews given (verifications of AI drafts included), the share
approved, how often the verdict matched the example's final decision (over decided examples
only), and the median time from the example being shown to the verdict. A reviewer is flagged
who approves more than 97% of 20 or more reviews (a rubber stamp), or who disagrees with final
decisions at least twice as often as everyone else and by 20 points (10+ decided reviews);
a flag is a reason to talk, not a verdict.</p>
<table><thead><tr><th>reviewer</th><th>reviews</th><th>approves</th><th>agrees with final</th>
<th>decided</th><th>median time</th><th>flags</th></tr></thead><tbody>{body}</tbody></table>
</section>"""


def _origin_table(origins: list[OriginRow]) -> str:
    lines: list[tuple[str, Callable[[OriginRow], str]]] = [
        ("examples", lambda o: f"{o.examples:,}"),
        ("of which conversations (turns)", lambda o: f"{o.conversations:,} ({o.turns:,})"),
        ("accepted", lambda o: f"{o.accepted:,}"),
        ("approval rate", lambda o: _pct(o.approval_rate)),
        ("top rejection reasons", _reasons),
        (
            "person-minutes per accepted",
            lambda o: _num(o.person_minutes_per_accepted, "{:.1f}"),
        ),
        ("timed tasks", _timed),
        ("LLM tokens per accepted", lambda o: _num(o.tokens_per_accepted, "{:,.0f}")),
        ("LLM cost per accepted", lambda o: _num(o.cost_per_accepted, "{:.3g}")),
        ("draft → accepted edit distance", _edits),
        ("distinct-1 / distinct-2", _distinct),
        ("distinct-n sample", lambda o: f"{o.diversity.distinct_size:,}"),
        ("mean ROUGE-L to nearest", lambda o: _num(o.diversity.nearest_rouge_l, "{:.3f}")),
        ("with a neighbour ≥ 0.5", lambda o: _pct(o.diversity.near_share)),
        ("top openings (share)", _openings),
        ("instruction words p10/p50/p90", lambda o: _pcts(o.diversity.instruction_words)),
        ("response words p10/p50/p90", lambda o: _pcts(o.diversity.response_words)),
        ("diversity sample", lambda o: f"{o.diversity.n:,}"),
    ]
    head = "".join(f"<th>{escape(o.origin)}</th>" for o in origins)
    body = "".join(
        f"<tr><td>{escape(name)}</td>{''.join(f'<td>{cell(o)}</td>' for o in origins)}</tr>"
        for name, cell in lines
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _reasons(o: OriginRow) -> str:
    if not o.rejection_reasons:
        return _na()
    return "<br>".join(f"{escape(r)} ({n})" for r, n in o.rejection_reasons)


def _timed(o: OriginRow) -> str:
    tasks = o.writes + o.reviews
    if not tasks:
        return "none needed"
    return f"{o.writes_timed + o.reviews_timed:,} of {tasks:,}"


def _edits(o: OriginRow) -> str:
    if o.edit_distance_mean is None:
        return _na()
    return f"mean {o.edit_distance_mean:.3f}, median {_num(o.edit_distance_median, '{:.3f}')}"


def _distinct(o: OriginRow) -> str:
    return f"{_num(o.diversity.distinct_1, '{:.3f}')} / {_num(o.diversity.distinct_2, '{:.3f}')}"


def _openings(o: OriginRow) -> str:
    if not o.diversity.openings:
        return _na()
    return "<br>".join(f"“{escape(w)}” {share:.0%}" for w, share in o.diversity.openings[:3])


def _pcts(p: dict[str, float]) -> str:
    if not p:
        return _na()
    return " / ".join(f"{p[k]:.0f}" for k in ("p10", "p50", "p90"))


def _sourcing(report: Report, charts: dict[str, str]) -> str:
    if not report.origins:
        return '<section id="sourcing"><h2>Sourcing methods</h2><p>No examples yet.</p></section>'
    prices = report.prices
    priced = (
        f"at {prices.prompt_per_mtok:g} per million prompt tokens and "
        f"{prices.completion_per_mtok:g} per million completion tokens"
        if prices.prompt_per_mtok is not None and prices.completion_per_mtok is not None
        else "not priced (set CROWDTUNE_LLM_PRICE_PROMPT and CROWDTUNE_LLM_PRICE_COMPLETION)"
    )
    return f"""
<section id="sourcing"><h2>Sourcing methods compared</h2>
<p class="how">One column per origin. <i>Person-minutes per accepted</i> adds the time people
spent writing (write form opened → submitted) and reviewing or verifying (example shown →
verdict) on every example of that origin, accepted or not, and divides by the accepted ones;
tasks from before timing was recorded are assumed to take the timed ones' mean, and a task
left open over an hour counts as one hour. LLM tokens are every request's, including drafts
that were discarded; cost is {escape(priced)}. Edit distance is the normalized Levenshtein
distance between an LLM draft and the text people accepted (0 = kept as drafted). Diversity,
on a sample of accepted examples: distinct-n is the share of unique word n-grams (higher is
more varied; every origin is measured on the same number of examples), nearest ROUGE-L is
how close each prompt is to its most similar other example in the corpus (lower is less
redundant; a prompt with nothing at 0.5 or above counts as 0), and the openings show how
often instructions start with the same two words.</p>
{_origin_table(report.origins)}
<div class="grid">{charts["minutes"]}{charts["approval"]}</div>
<div class="grid">{charts["diversity"]}</div>
</section>
<section id="weekly"><h2>Over time</h2>
<p class="how">Examples accepted each week (by the week of their approval), stacked by origin:
where the dataset's growth comes from, and whether a method is drying up.</p>
{charts["weekly"]}
</section>"""


def render_html(report: Report) -> str:
    """The whole page as a string."""
    charts = {name: _figure(name, fn(report), alt) for name, (fn, alt) in CHARTS.items()}
    since = f" · examples since {report.since:%Y-%m-%d}" if report.since else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crowdtune quality report</title><style>{CSS}</style></head>
<body><header><h1>crowdtune quality report</h1>
<p>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC{escape(since)}</p></header>
<main>{_tiles(report)}{_agreement(report, charts)}{_sourcing(report, charts)}
{_reviewers(report)}</main></body></html>
"""


def write_html(report: Report, path: Path) -> Path:
    """Write the page to `path` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render_html(report))
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
