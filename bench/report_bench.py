"""Quality report benchmark: how long `crowdtune report` takes as the corpus grows.

Corpus: N examples with T0 prompts and completions from ../shared/datasets as texts, split over
the four origins, each reviewed twice (verdicts and ratings drawn at random, times recorded),
bulk-inserted into a fresh SQLite file or PostgreSQL database. Baseline: the per-origin and
status counts `crowdtune stats` runs (one grouped query), the least any report must read.
Columns: reading the reviews once, alpha per category, reviewer records, building the
near-duplicate index, the per-origin figures (diversity on --sample examples per origin), and
rendering the HTML page with its five charts.

Run: .venv/bin/python bench/report_bench.py [--sizes 10000,50000] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from exporters.report_html import render_html
from store.categories import get_category
from store.db import session_scope
from store.enums import ExampleStatus, Origin, Verdict
from store.models import Example, Review
from store.quality.dedup import DedupIndex
from store.report import agreement_by_category, origin_rows, reviewer_rows
from store.report.agreement import review_facts
from store.report.build import Report
from store.report.sourcing import TokenPrices
from store.validation import content_hash
from tests.dbs import migrated_database
from tests.factories import person

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
T0 = datetime(2026, 6, 1, tzinfo=UTC)
ORIGINS = (Origin.HUMAN, Origin.LLM, Origin.IMPORTED, Origin.TRANSFORMED)


def load_texts(n: int) -> list[tuple[str, str]]:
    """Up to n (prompt, completion) pairs from T0, cycled if the file has fewer."""
    out: list[tuple[str, str]] = []
    with gzip.open(DATASETS / "t0_train_50k.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            out.append((row["prompt"][:2000], row["completion"][:2000] or "n/a"))
            if len(out) >= n:
                break
    return [out[i % len(out)] for i in range(n)]


def fill(s: Session, n: int, seed: int) -> None:
    """N examples and 2N reviews, in bulk."""
    rng = random.Random(seed)
    cats = [get_category(s, c).id for c in ("open_qa", "brainstorming", "general_qa")]
    writers = [person(s, f"UW{i}").id for i in range(50)]
    reviewers = [person(s, f"UR{i}").id for i in range(20)]
    rows: list[dict[str, Any]] = []
    for i, (prompt, completion) in enumerate(load_texts(n)):
        origin = ORIGINS[i % 4]
        at = T0 + timedelta(minutes=7 * i)
        rows.append(
            {
                "category_id": rng.choice(cats),
                "instruction": f"{prompt} ({i})",
                "context": "",
                "response": completion,
                "status": ExampleStatus.APPROVED if rng.random() < 0.8 else ExampleStatus.REJECTED,
                "origin": origin,
                "author_id": rng.choice(writers) if origin == Origin.HUMAN else None,
                "content_hash": content_hash(f"{prompt} ({i})", "", completion),
                "draft_response": completion if origin == Origin.LLM else None,
                "flags": [],
                "review_count": 2,
                "created_at": at,
                "updated_at": at,
                "decided_at": at + timedelta(hours=3),
                "write_started_at": at - timedelta(seconds=rng.randint(60, 600))
                if origin == Origin.HUMAN
                else None,
            }
        )
    for start in range(0, n, 5000):
        s.execute(insert(Example), rows[start : start + 5000])
    ids = s.scalars(select(Example.id).order_by(Example.id)).all()
    reviews: list[dict[str, Any]] = []
    for ex_id in ids:
        at = T0 + timedelta(minutes=ex_id)
        for who in rng.sample(reviewers, 2):
            approve = rng.random() < 0.8
            reviews.append(
                {
                    "example_id": ex_id,
                    "reviewer_id": who,
                    "verdict": Verdict.APPROVE if approve else Verdict.REJECT,
                    "reason": None if approve else rng.choice(("Wrong.", "Too vague.")),
                    "rating": rng.randint(1, 5) if rng.random() < 0.6 else None,
                    "shown_at": at,
                    "created_at": at + timedelta(seconds=rng.randint(10, 120)),
                }
            )
    for start in range(0, len(reviews), 5000):
        s.execute(insert(Review), reviews[start : start + 5000])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def run(kind: str, n: int, sample: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, migrated_database(kind, Path(tmp)) as db:
        with session_scope(db.sessions) as s:
            fill(s, n, seed=n)
        out: dict[str, float] = {}
        with session_scope(db.sessions) as s:
            q = select(Example.origin, Example.status, func.count()).group_by(
                Example.origin, Example.status
            )
            out["baseline"], _ = timed(lambda: s.execute(q).all())
            out["reviews"], facts = timed(lambda: review_facts(s))
            out["agreement"], agreement = timed(lambda: agreement_by_category(s, facts=facts))
            out["reviewers"], reviewers = timed(lambda: reviewer_rows(s, facts=facts))
            out["index"], index = timed(lambda: DedupIndex.from_session(s))
            out["origins"], origins = timed(
                lambda: origin_rows(s, index=index, sample=sample, prices=TokenPrices(0.15, 0.6))
            )
        report = Report(datetime.now(UTC), None, agreement, reviewers, origins, TokenPrices())
        out["html"], _ = timed(lambda: render_html(report))
        return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="10000,50000")
    p.add_argument("--db", default="sqlite,postgresql")
    p.add_argument("--sample", type=int, default=300)
    args = p.parse_args()
    parts = ("reviews", "agreement", "reviewers", "index", "origins", "html")
    print(
        f"{'db':<12}{'examples':>10}{'reviews':>9}{'base s':>8}"
        + "".join(f"{x + ' s':>12}" for x in parts)
        + f"{'total s':>9}{'ratio':>9}"
    )
    for kind in args.db.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            t = run(kind, n, args.sample)
            total = sum(t[x] for x in parts)
            print(
                f"{kind:<12}{n:>10,}{2 * n:>9,}{t['baseline']:>8.3f}"
                + "".join(f"{t[x]:>12.2f}" for x in parts)
                + f"{total:>9.2f}{total / t['baseline']:>8.0f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
