"""Costs as the corpus grows: the Slack path's reads and the near-duplicate index, at 10k,
200k and 1M examples on SQLite and PostgreSQL, with each figure's 1M/10k ratio.

Corpus: `bench.datasets.synthetic_corpus` (real T0 / Self-Instruct prompts remixed, Dolly's
shape), plus the labelled near-duplicate pairs' originals from tests/fixtures. Each database
grows through the sizes; 2,000 people wrote them over two years, half the examples have a
review. Per size and database: index catch-up with nothing new, App Home (what the home
handler does: claim the event, the person, then `render_home`: personal counts, category
progress, top 5, the person's interests, the view), leaderboard(10),
leaderboard(since=7 days ago), category_counts / gaps / largest_gap_category,
personal_counts (p50 of --repeat runs, each in its own transaction);
and in fresh processes the index build from the database (steady and peak RSS above the
process's own baseline), the snapshot mapped by a new process (its RSS after the queries,
and the private part of it), and query p50/p99 for in-distribution queries, with decisions
compared with exhaustive ROUGE-L.

Each size is loaded by bench.bulk (COPY / raw executemany with the counter triggers bypassed,
then one recount, as a restore would): 1M examples in about 2.5 minutes on SQLite.

Run: .venv/bin/python -m bench.scale_bench [--sizes 10000,200000,1000000]
     [--dbs sqlite,postgresql] [--repeat 200] [--queries 300] [--exhaustive 50]
     [--skip-index]  (the database reads only: no snapshot, no index processes)
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from bench.bulk import BulkLoader
from bench.datasets import SyntheticRow, synthetic_corpus
from migrations import runner
from store.categories import seed_default_categories
from store.db import make_engine, make_session_factory, session_scope
from store.models import Category, Contributor, Example
from store.types import utcnow

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "tests" / "fixtures" / "quality_near_duplicates.jsonl"
PG_ADMIN = os.environ.get(
    "CROWDTUNE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PEOPLE = 2_000
TEAM = "TBENCH"
BATCH = 5_000
THRESHOLD = 0.7
STATUSES = ["approved"] * 12 + ["pending"] * 4 + ["rejected"] * 2 + ["draft"] * 2
ORIGINS = ["human"] * 10 + ["imported"] * 6 + ["llm"] * 3 + ["transformed"]
# The targets of issue 13, at 1M examples.
TARGETS = {
    "index sync, nothing new": "< 1 ms",
    "App Home": "< 30 ms",
    "leaderboard(10)": "< 20 ms",
    "leaderboard(since=7d)": "< 20 ms",
    "category_counts": "< 5 ms",
    "gaps": "< 5 ms",
    "largest_gap_category": "< 5 ms",
    "personal_counts": "< 5 ms",
}


def rss_mb() -> float:
    """This process's resident set now, in MB."""
    with Path("/proc/self/statm").open(encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def private_mb() -> float:
    """The part of the resident set no other process shares (anonymous and private pages)."""
    total = 0
    with Path("/proc/self/smaps_rollup").open(encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1e3


def peak_mb() -> float:
    """The largest resident set this process has had, in MB (VmHWM: unlike ru_maxrss it is not
    inherited from the parent that started this process)."""
    with Path("/proc/self/status").open(encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    raise RuntimeError("no VmHWM in /proc/self/status")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- databases --------------------------------------------------------------------------------


def new_database(kind: str, workdir: Path) -> str:
    """A fresh migrated database of `kind`; returns its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'scale.db'}"
    else:
        name = f"crowdtune_scale_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    runner.upgrade(url)
    return url


def drop_database(url: str) -> None:
    """Drop a PostgreSQL bench database (SQLite files go with the work folder)."""
    if not url.startswith("postgresql"):
        return
    name = make_url(url).database
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Loader:
    """Grows one database through the sizes with the synthetic corpus (bench.bulk: COPY or
    raw executemany, counter triggers bypassed, one recount per size)."""

    def __init__(self, url: str, seed: int) -> None:
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.rng = random.Random(seed)
        self.rows: Iterator[SyntheticRow] = synthetic_corpus(10**9, seed=seed)
        self.count = 0
        self.now = utcnow()
        with session_scope(self.sessions) as s:
            seed_default_categories(s)
            s.execute(
                insert(Contributor),
                [
                    {"team_id": TEAM, "slack_user_id": f"U{i:05d}", "display_name": f"Person {i}"}
                    for i in range(PEOPLE)
                ],
            )
            self.cats = {c.slug: c.id for c in s.scalars(select(Category))}
            self.people = list(s.scalars(select(Contributor.id).order_by(Contributor.id)))
        originals = [json.loads(line)["original"] for line in PAIRS.open(encoding="utf-8")]
        self.labelled = sorted(set(originals))

    def _row(self, row: SyntheticRow, status: str | None = None) -> dict[str, Any]:
        rng = self.rng
        origin = rng.choice(ORIGINS)
        author = None if origin == "imported" else self.people[int(PEOPLE * rng.random() ** 2)]
        when = self.now - timedelta(days=730 * rng.random())
        digest = hashlib.sha256(f"{row.instruction}\x1f{row.context}\x1f{row.response}".encode())
        return {
            "category_id": self.cats[row.category],
            "instruction": row.instruction,
            "context": row.context,
            "response": row.response,
            "status": status or rng.choice(STATUSES),
            "origin": origin,
            "author_id": author,
            "content_hash": digest.hexdigest(),
            "created_at": when,
            "updated_at": when,
        }

    def grow(self, size: int) -> float:
        """Insert examples (and a review for every other one) up to `size`, then recount the
        counters; returns seconds."""
        started = time.perf_counter()
        with BulkLoader(self.engine) as bulk:
            while self.count < size:
                n = min(BATCH, size - self.count)
                batch: list[dict[str, Any]] = []
                if self.count == 0:  # the labelled originals are in every size
                    for text_ in self.labelled:
                        row = SyntheticRow("open_qa", text_, "", "A labelled answer.")
                        batch.append(self._row(row, "approved"))
                batch.extend(self._row(next(self.rows)) for _ in range(n - len(batch)))
                ids = bulk.examples(batch, batch=len(batch))
                reviews = []
                for k, (example_id, row) in enumerate(zip(ids, batch, strict=True)):
                    reviewer = self.people[self.rng.randrange(PEOPLE)]
                    if k % 2 or reviewer == row["author_id"]:
                        continue
                    when = row["created_at"] + timedelta(hours=48 * self.rng.random())
                    reviews.append(
                        {
                            "example_id": example_id,
                            "reviewer_id": reviewer,
                            "created_at": min(self.now, when),
                        }
                    )
                bulk.reviews(reviews, batch=max(1, len(reviews)))
                self.count += n
        return time.perf_counter() - started


# -- the Slack path's reads -------------------------------------------------------------------


def timed(sessions: Any, fn: Callable[[Any], object], repeat: int) -> tuple[float, float]:
    """(p50, best) in ms of `fn(session)`, each run in its own transaction."""
    laps = []
    for _ in range(repeat):
        with session_scope(sessions) as s:
            t0 = time.perf_counter()
            fn(s)
            laps.append(time.perf_counter() - t0)
    return statistics.median(laps) * 1e3, min(laps) * 1e3


def db_figures(
    url: str, snapshot: Path | None, repeat: int, seed: int
) -> dict[str, tuple[float, float]]:
    """The Slack path's reads at the database's current size: (p50, best) in ms (the index
    catch-up too when a `snapshot` is given)."""
    from bot.slack.handlers.home import render_home
    from store.contributors import get_or_create_contributor
    from store.deliveries import claim_delivery
    from store.quality.dedup import DedupIndex
    from store.stats import (
        category_counts,
        gaps,
        largest_gap_category,
        leaderboard,
        personal_counts,
    )

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    index = DedupIndex.open(snapshot) if snapshot is not None else None
    with session_scope(sessions) as s:
        if index is not None:
            index.sync(s)  # catch up once: the snapshot was just written
        people = list(s.scalars(select(Contributor.slack_user_id)))

    def person(s: Any) -> Contributor:
        who = rng.choice(people)
        found = s.scalar(
            select(Contributor).where(Contributor.team_id == TEAM, Contributor.slack_user_id == who)
        )
        assert found is not None
        return found

    def app_home(s: Any) -> None:
        # What the app_home_opened handler does: claim the event, find the person, render.
        claim_delivery(s, f"event:bench-{uuid.uuid4().hex}")
        me = get_or_create_contributor(s, TEAM, rng.choice(people))
        render_home(s, me)

    week = utcnow() - timedelta(days=7)
    out = {
        # The floor: one round trip to the database on this (shared, loaded) machine.
        "baseline: SELECT 1": timed(sessions, lambda s: s.execute(text("SELECT 1")).all(), repeat),
        **(
            {"index sync, nothing new": timed(sessions, index.sync, repeat)}
            if index is not None
            else {}
        ),
        "App Home": timed(sessions, app_home, repeat),
        "leaderboard(10)": timed(sessions, lambda s: leaderboard(s, limit=10), repeat),
        "leaderboard(since=7d)": timed(
            sessions, lambda s: leaderboard(s, limit=10, since=week), repeat
        ),
        "category_counts": timed(sessions, category_counts, repeat),
        "gaps": timed(sessions, gaps, repeat),
        "largest_gap_category": timed(sessions, largest_gap_category, repeat),
        "personal_counts": timed(sessions, lambda s: personal_counts(s, person(s)), repeat),
    }
    engine.dispose()
    return out


# -- the index, in fresh processes --------------------------------------------------------------


def child(args: list[str]) -> dict[str, Any]:
    """Run this module with `args` in a new process; return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale_bench", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args[:2]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child_build(url: str) -> dict[str, Any]:
    """Build the index from the database; RSS above this process's baseline."""
    from store.quality.dedup import DedupIndex

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as s:
        s.execute(select(Example.id).limit(1)).all()  # connect first: the baseline has a driver
    base = rss_mb()
    t0 = time.perf_counter()
    with session_scope(sessions) as s:
        index = DedupIndex.from_session(s)
    build_s = time.perf_counter() - t0
    steady = rss_mb()
    return {
        "count": len(index),
        "build_s": build_s,
        "base": base,
        "steady": steady - base,
        "peak": peak_mb() - base,
    }


def _mutate(text_: str, rng: random.Random) -> str:
    words = text_.split()
    kind = rng.randrange(3)
    if kind == 0:
        return text_.upper().replace(",", "").replace(".", "")
    if kind == 1:
        words[rng.randrange(len(words))] = "meanwhile"
    elif len(words) > 1:
        del words[rng.randrange(len(words))]
    return " ".join(words)


def child_query(
    url: str, snapshot: str, n_queries: int, n_exhaustive: int, seed: int
) -> dict[str, Any]:
    """Map the snapshot in a fresh process, catch up, query; RSS and latencies, decisions."""
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import Indel

    from store.quality.dedup import DedupIndex, prompt_text, rouge_l_f1, tokenize

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    with session_scope(sessions) as s:
        count = s.scalar(select(Example.id).order_by(Example.id.desc()).limit(1)) or 0
        sample_ids = [rng.randint(1, count) for _ in range(n_queries)]
        rows = s.execute(
            select(Example.instruction, Example.context).where(Example.id.in_(sample_ids))
        ).all()
    corpus_texts = [prompt_text(i, c) for i, c in rows]
    # A first open loads what opening imports and warms the file cache, so that the open
    # measured below is the mapped index's own cost, above a settled baseline.
    index = DedupIndex.open(Path(snapshot))
    with session_scope(sessions) as s:
        index.sync(s)
    novel = [
        prompt_text(r.instruction, r.context) for r in synthetic_corpus(n_queries, seed=seed + 99)
    ]
    queries = []
    for i in range(n_queries):
        pick = i % 3
        if pick == 0 and corpus_texts:
            queries.append(_mutate(rng.choice(corpus_texts), rng))
        elif pick == 1 and corpus_texts:
            words = rng.choice(corpus_texts).split()
            rng.shuffle(words)
            queries.append(" ".join(words))
        else:
            queries.append(novel[i])
    gc.collect()
    base, base_private = rss_mb(), private_mb()
    t0 = time.perf_counter()
    index = DedupIndex.open(Path(snapshot))
    with session_scope(sessions) as s:
        index.sync(s)
    open_s = time.perf_counter() - t0
    for q in queries[:5]:
        index.nearest(q, k=5, threshold=THRESHOLD)
    laps, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(index.nearest(q, k=5, threshold=THRESHOLD))
        laps.append(time.perf_counter() - t)
    resident, private = rss_mb() - base, private_mb() - base_private
    # Labelled pairs: the index's decision, exhaustive ROUGE-L's and the label agree.
    pairs = [json.loads(line) for line in PAIRS.open(encoding="utf-8")]
    labelled_same = 0
    for pair in pairs:
        hits = index.nearest(pair["variant"], k=50, threshold=THRESHOLD)
        found = any(h.text == pair["original"] for h in hits)
        exact = rouge_l_f1(pair["variant"], pair["original"]) >= THRESHOLD
        labelled_same += found == exact == pair["caught"]
    # Random queries: any match at all, index vs scoring every indexed text.
    alive = np.flatnonzero(np.frombuffer(index._alive, dtype=np.int8)).tolist()
    every = [index._seq_at(slot) for slot in alive]
    exhaustive_same = 0
    for q, got in list(zip(queries, results, strict=True))[:n_exhaustive]:
        seq = index._encode(tokenize(q), grow=False)
        best = process.extractOne(
            seq,
            every,
            scorer=Indel.normalized_similarity,
            processor=None,
            score_cutoff=THRESHOLD - 1e-6,
        )
        has = best is not None and best[1] >= THRESHOLD - 1e-9
        exhaustive_same += has == bool(got)
    return {
        "count": len(index),
        "open_s": open_s,
        "rss": resident,
        "private": private,
        "p50": percentile(laps, 0.5) * 1e3,
        "p99": percentile(laps, 0.99) * 1e3,
        "with_match": sum(1 for r in results if r),
        "queries": len(queries),
        "labelled": f"{labelled_same}/{len(pairs)}",
        "exhaustive": f"{exhaustive_same}/{min(n_exhaustive, len(queries))}",
    }


# -- the table --------------------------------------------------------------------------------


def fmt(value: float) -> str:
    """A figure with as many decimals as it needs."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def print_table(
    title: str,
    sizes: list[int],
    rows: dict[str, dict[int, Any]],
    unit: str,
    targets: dict[str, str],
) -> None:
    """One table: a row per figure, a column per size, the last/first ratio and the target."""
    print(f"\n{title}")
    head = (
        ["figure"]
        + [f"{n:,}" for n in sizes]
        + [f"{sizes[-1] // 1000:,}k/{sizes[0] // 1000:,}k", "target"]
    )
    width = max(len(r) for r in rows) + 2
    cell = max(12, *(len(h) + 2 for h in head[1:]))  # "1,000k/1,000k" when one size is run
    print(f"{head[0]:<{width}}" + "".join(f"{h:>{cell}}" for h in head[1:]))
    for name, per in rows.items():
        cells = [per.get(n) for n in sizes]
        values = [fmt(c) if isinstance(c, float) else str(c) for c in cells]
        first, last = cells[0], cells[-1]
        ratio = (
            f"{last / first:.2f}x"
            if isinstance(first, float) and isinstance(last, float) and first
            else "–"
        )
        print(
            f"{name:<{width}}"
            + "".join(f"{v:>{cell}}" for v in values)
            + f"{ratio:>{cell}}{targets.get(name, ''):>{cell}}"
        )
    print(f"({unit})")


def record(
    label: str,
    size: int,
    figures: dict[str, tuple[float, float]],
    reads: dict[str, dict[int, Any]],
    best: dict[str, dict[int, Any]],
) -> None:
    """File one size's (p50, best) figures in the tables and print the p50s."""
    for name, (p50, fastest) in figures.items():
        reads.setdefault(name, {})[size] = p50
        best.setdefault(name, {})[size] = fastest
    so_far = {name: round(per[size], 3) for name, per in reads.items()}
    print(f"[{label}] {size:,} reads p50 ms: {json.dumps(so_far)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Grow each database through the sizes, measure, print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,200000,1000000")
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--exhaustive", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--skip-index", action="store_true", help="only the database reads: no index figures"
    )
    parser.add_argument("--child", choices=["build", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "build":
        print(json.dumps(child_build(args.url)))
        return 0
    if args.child == "query":
        print(
            json.dumps(
                child_query(args.url, args.snapshot, args.queries, args.exhaustive, args.seed)
            )
        )
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    kinds = [k.strip() for k in args.dbs.split(",") if k.strip()]
    print(f"scale bench: sizes {sizes}, databases {kinds}, p50 of {args.repeat} runs per read")
    for kind in kinds:
        workdir = Path(tempfile.mkdtemp(prefix=f"scale-{kind}-"))
        url = new_database(kind, workdir)
        reads: dict[str, dict[int, Any]] = {}
        best: dict[str, dict[int, Any]] = {}
        index_rows: dict[str, dict[int, Any]] = {}
        try:
            loader = Loader(url, args.seed)
            for size in sizes:
                load_s = loader.grow(size)
                print(f"[{kind}] {size:,} examples loaded (+{load_s:.0f} s)", flush=True)
                if args.skip_index:
                    record(kind, size, db_figures(url, None, args.repeat, args.seed), reads, best)
                    continue
                snapshot = workdir / "dedup-index"
                from store.quality.dedup import DedupIndex

                t0 = time.perf_counter()
                with session_scope(loader.sessions) as s:
                    DedupIndex.write_snapshot(s, snapshot)
                snap_s = time.perf_counter() - t0
                record(kind, size, db_figures(url, snapshot, args.repeat, args.seed), reads, best)
                built = child(["--child", "build", "--url", url])
                queried = child(
                    [
                        "--child",
                        "query",
                        "--url",
                        url,
                        "--snapshot",
                        str(snapshot),
                        "--queries",
                        str(args.queries),
                        "--exhaustive",
                        str(args.exhaustive),
                        "--seed",
                        str(args.seed),
                    ]
                )
                figures = {
                    "indexed texts": str(built["count"]),
                    "build from database, s": built["build_s"],
                    "build: steady RSS, MB": built["steady"],
                    "build: peak RSS, MB": built["peak"],
                    "build: peak / steady": built["peak"] / built["steady"]
                    if built["steady"]
                    else 0.0,
                    "snapshot write, s": snap_s,
                    "snapshot open + sync, s": queried["open_s"],
                    "mapped: RSS after queries, MB": queried["rss"],
                    "mapped: of which private, MB": queried["private"],
                    "query p50, ms": queried["p50"],
                    "query p99, ms": queried["p99"],
                    "queries with a match": f"{queried['with_match']}/{queried['queries']}",
                    "labelled pairs, same decision": queried["labelled"],
                    "= exhaustive ROUGE-L (has match)": queried["exhaustive"],
                }
                for name, value in figures.items():
                    index_rows.setdefault(name, {})[size] = value
                print(f"[{kind}] {size:,} index: {json.dumps(figures)}", flush=True)
        finally:
            drop_database(url)
            shutil.rmtree(workdir, ignore_errors=True)
        print_table(
            f"{kind}: the Slack path's reads (p50, ms)",
            sizes,
            reads,
            "ms, median of each read in its own transaction",
            TARGETS,
        )
        print_table(
            f"{kind}: the same reads, best of {args.repeat} (ms)",
            sizes,
            best,
            "ms, fastest run: the cost without waiting for a CPU",
            TARGETS,
        )
        index_targets = {
            "build: peak / steady": "<= 1.5",
            "mapped: RSS after queries, MB": "<= 300",
            "build: steady RSS, MB": "<= 300",
            "query p99, ms": "<= 10",
        }
        if args.skip_index:
            continue
        print_table(
            f"{kind}: the near-duplicate index",
            sizes,
            index_rows,
            "RSS above each fresh process's baseline",
            index_targets,
        )
    load = os.getloadavg()[0]
    print(f"(machine load average {load:.1f}; {os.cpu_count()} cores shared with other sessions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
