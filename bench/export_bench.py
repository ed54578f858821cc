"""Export benchmark: 1M synthetic approved examples and the Dolly-15k stand-in, on both databases.

Each measured run (the export, and a baseline that only reads the same rows and writes them
with json.dumps) happens in its own subprocess, so peak RSS is clean. Prints a table.

    .venv/bin/python bench/export_bench.py                # 1,000,000 rows, both databases
    .venv/bin/python bench/export_bench.py --rows 100000 --dbs sqlite
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from store.db import make_engine, normalize_url  # noqa: E402

T0 = ROOT.parent / "shared" / "datasets" / "t0_train_50k.jsonl.gz"
DOLLY_SIZE = 15_011  # databricks-dolly-15k's row count
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CATS = [
    "open_qa",
    "closed_qa",
    "information_extraction",
    "summarization",
    "brainstorming",
    "classification",
    "creative_writing",
    "general_qa",
]
WORDS = [
    "the",
    "of",
    "team",
    "quarterly",
    "report",
    "customer",
    "product",
    "launch",
    "budget",
    "review",
    "policy",
    "security",
    "design",
    "service",
    "latency",
    "invoice",
    "contract",
    "meeting",
    "roadmap",
    "hiring",
    "onboarding",
    "release",
    "incident",
    "metric",
    "revenue",
    "forecast",
    "vendor",
    "office",
    "travel",
    "expense",
    "laptop",
    "network",
    "backup",
    "database",
    "query",
    "schema",
    "index",
    "migration",
    "cluster",
    "region",
    "support",
    "ticket",
    "escalation",
    "feedback",
    "survey",
    "training",
    "workshop",
    "deadline",
    "milestone",
    "priority",
    "risk",
    "audit",
    "compliance",
]
COLUMNS = (
    "category_id, instruction, context, response, status, origin, author_id, content_hash, "
    "flags, revision, review_count, created_at, updated_at"
)
STAMP = "2026-01-01 00:00:00"


def vocabulary(size: int = 20_000) -> tuple[list[str], list[float]]:
    """Real words first, then pronounceable made-up ones, with Zipf cumulative weights.

    Natural text is Zipfian: a few words are everywhere, most are rare. A flat 50-word
    vocabulary would make every pair of texts look alike and defeat any text index.
    """
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = list(WORDS)
    k = 0
    while len(words) < size:
        a, b, c = k % 70, (k // 70) % 70, k // 4900
        words.append(syllables[a] + syllables[b] + (syllables[c % 70] if c else ""))
        k += 1
    cum, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1.0 / rank
        cum.append(total)
    return words, cum


def sentence(rng: random.Random, vocab: tuple[list[str], list[float]], n: int) -> str:
    """n Zipf-distributed words with a capital and a full stop."""
    words = rng.choices(vocab[0], cum_weights=vocab[1], k=n)
    return " ".join(words).capitalize() + "."


def synthetic(n: int, seed: int = 1) -> Iterator[tuple[str, str, str, str, int | None]]:
    """(category, instruction, context, response, author index) rows; about 1% exact repeats."""
    rng = random.Random(seed)
    vocab = vocabulary()
    recent: list[tuple[str, str, str]] = []
    for i in range(n):
        cat = CATS[i % len(CATS)] if rng.random() < 0.5 else rng.choice(CATS)
        if recent and rng.random() < 0.01:
            ins, ctx, resp = rng.choice(recent)
        else:
            ins = f"{sentence(rng, vocab, rng.randint(6, 16))} (request {i})"
            ctx = " ".join(sentence(rng, vocab, 12) for _ in range(rng.randint(2, 5)))
            ctx = ctx if cat in CATS[1:4] else ""
            resp = " ".join(
                sentence(rng, vocab, rng.randint(8, 14)) for _ in range(rng.randint(1, 4))
            )
            if len(recent) < 1000:
                recent.append((ins, ctx, resp))
        author = None if rng.random() < 0.3 else rng.randrange(500)
        yield cat, ins, ctx, resp, author


def dolly_standin(n: int) -> Iterator[tuple[str, str, str, str, int | None]]:
    """T0 prompts in Dolly's shape: prompt -> instruction, completion -> response."""
    sys.path.insert(0, str(ROOT))
    from store.importing import infer_category

    with gzip.open(T0, "rt", encoding="utf-8") as f:
        for k, line in enumerate(f):
            if k >= n:
                return
            rec = json.loads(line)
            ins, resp = rec["prompt"].strip(), rec["completion"].strip()
            if not ins or not resp:
                continue
            yield infer_category(ins, ""), ins, "", resp, None


def content_hash(ins: str, ctx: str, resp: str) -> str:
    """Same as store.validation.content_hash."""
    from store.validation import content_hash as h

    return h(ins, ctx, resp)


def prepare(kind: str, tmp: Path, rows: Iterator[tuple[str, str, str, str, int | None]]) -> str:
    """A migrated database of `kind` holding the rows, all approved; returns its URL."""
    from migrations import runner
    from store.categories import seed_default_categories
    from store.db import make_session_factory, session_scope
    from store.models import Category, Contributor

    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        name = f"crowdtune_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    runner.upgrade(url)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as s:
        seed_default_categories(s)
        for k in range(500):
            s.add(Contributor(team_id="T0BENCH", slack_user_id=f"U{k:06d}", display_name=f"p{k}"))
        s.flush()
        cat_ids = {slug: cid for cid, slug in s.execute(select(Category.id, Category.slug))}
        people = [cid for (cid,) in s.execute(select(Contributor.id).order_by(Contributor.id))]
    engine.dispose()

    def tuples() -> Iterator[tuple[Any, ...]]:
        for cat, ins, ctx, resp, author in rows:
            origin = "imported" if author is None else "human"
            yield (
                cat_ids[cat], ins, ctx, resp, "approved", origin,
                None if author is None else people[author],
                content_hash(ins, ctx, resp), "[]", 1, 2 if author is not None else 0,
                STAMP, STAMP,
            )  # fmt: skip

    if kind == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        marks = ", ".join("?" * 13)
        batch: list[tuple[Any, ...]] = []
        with conn:
            for t in tuples():
                batch.append(t)
                if len(batch) >= 50_000:
                    conn.executemany(f"INSERT INTO examples ({COLUMNS}) VALUES ({marks})", batch)
                    batch.clear()
            conn.executemany(f"INSERT INTO examples ({COLUMNS}) VALUES ({marks})", batch)
        conn.close()
    else:
        import psycopg

        plain = normalize_url(url).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY examples ({COLUMNS}) FROM STDIN") as cp:
                for t in tuples():
                    cp.write_row(t)
            cur.execute("ANALYZE examples")
    return url


def drop(kind: str, url: str) -> None:
    """Remove a PostgreSQL bench database (SQLite files go with the temp folder)."""
    if kind != "postgresql":
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def child_baseline(url: str, out: Path) -> dict[str, Any]:
    """Read every approved row (keyset batches, as the exporter reads) and json.dumps it."""
    from store.models import Category, Example

    engine = make_engine(url, sqlite_begin="DEFERRED")
    n, last = 0, 0
    with engine.connect() as conn, out.open("w", encoding="utf-8") as f:
        while True:
            batch = conn.execute(
                select(
                    Example.id, Category.slug, Example.origin, Example.instruction,
                    Example.context, Example.response,
                )
                .join(Category, Category.id == Example.category_id)
                .where(Example.status == "approved", Example.id > last)
                .order_by(Example.id)
                .limit(20_000)
            ).all()  # fmt: skip
            if not batch:
                break
            for r in batch:
                f.write(json.dumps({
                    "id": r[0], "category": r[1], "origin": r[2], "instruction": r[3],
                    "context": r[4], "response": r[5],
                }, ensure_ascii=False) + "\n")  # fmt: skip
                n += 1
            last = batch[-1][0]
    engine.dispose()
    return {"read": n, "written": n}


def child_export(url: str, out: Path, cap: int, near_dup: float | None) -> dict[str, Any]:
    """The real export: all five formats, --balance cap."""
    from exporters.quality import default_collaborators
    from exporters.run import run_export
    from exporters.spec import FORMATS, ExportSpec
    from store.db import make_session_factory

    engine = make_engine(url, sqlite_begin="DEFERRED")
    spec = ExportSpec(
        salt="bench-salt",
        formats=FORMATS,
        balance="cap",
        cap=cap,
        test_size=0.1,
        near_dup_threshold=near_dup,
    )
    result = run_export(
        make_session_factory(engine), out, spec, collaborators=default_collaborators()
    )
    engine.dispose()
    c = result.counts
    return {
        "read": sum(c.available.values()) + c.exact_duplicates,
        "written": c.total,
        "exact_dups": c.exact_duplicates,
        "near_dups": c.near_duplicates,
    }


def run_child(mode: str, url: str, out: Path, cap: int, near_dup: float | None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it printed."""
    cmd = [sys.executable, __file__, "--child", mode, "--url", url, "--out", str(out)]
    cmd += ["--cap", str(cap), "--near-dup", str(near_dup or 0)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child_main(args: argparse.Namespace) -> None:
    """Entry of a measuring subprocess: do the work, print figures as one JSON line."""
    started = time.perf_counter()
    near = args.near_dup if args.near_dup > 0 else None
    if args.child == "baseline":
        figures = child_baseline(args.url, Path(args.out))
    else:
        figures = child_export(args.url, Path(args.out), args.cap, near)
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def main() -> None:
    """Load each dataset into each database, measure baseline and export, print a table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dbs", default="sqlite,postgresql")
    p.add_argument("--cap", type=int, default=2000)
    p.add_argument("--near-dup", type=float, default=0.9, help="ROUGE-L F1; 0 turns it off")
    p.add_argument("--skip-dolly", action="store_true")
    p.add_argument("--child", choices=["baseline", "export"])
    p.add_argument("--url")
    p.add_argument("--out")
    args = p.parse_args()
    if args.child:
        child_main(args)
        return
    datasets = [(f"synthetic {args.rows:,}", lambda: synthetic(args.rows))]
    if not args.skip_dolly:
        datasets.append(("dolly-15k stand-in (T0)", lambda: dolly_standin(DOLLY_SIZE)))
    results: list[tuple[str, str, dict[str, Any], dict[str, Any], float]] = []
    for kind in [k.strip() for k in args.dbs.split(",") if k.strip()]:
        for label, rows in datasets:
            tmp = Path(tempfile.mkdtemp(prefix="crowdtune-bench-"))
            try:
                t0 = time.perf_counter()
                url = prepare(kind, tmp, rows())
                load = time.perf_counter() - t0
                print(f"[{kind}] {label}: loaded in {load:.1f} s", file=sys.stderr, flush=True)
                try:
                    base = run_child("baseline", url, tmp / "baseline.jsonl", args.cap, None)
                    print(f"[{kind}] {label}: baseline {base}", file=sys.stderr, flush=True)
                    exp = run_child("export", url, tmp / "export", args.cap, args.near_dup)
                    print(f"[{kind}] {label}: export {exp}", file=sys.stderr, flush=True)
                finally:
                    drop(kind, url)
                results.append((label, kind, base, exp, load))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    out = io.StringIO()
    head = (
        f"{'dataset':<26}{'db':<11}{'rows in':>10}{'rows out':>9}{'base s':>8}{'export s':>9}"
        f"{'ratio':>7}{'export rows/s':>14}{'base MB':>9}{'export MB':>10}"
    )
    print(head, file=out)
    print("-" * len(head), file=out)
    for label, kind, b, e, _load in results:
        print(
            f"{label:<26}{kind:<11}{e['read']:>10,}{e['written']:>9,}{b['seconds']:>8.1f}"
            f"{e['seconds']:>9.1f}{e['seconds'] / b['seconds']:>6.2f}x"
            f"{e['read'] / e['seconds']:>14,.0f}{b['peak_rss_mb']:>9.0f}{e['peak_rss_mb']:>10.0f}",
            file=out,
        )
    print(
        f"\nexport = all five formats, --balance cap --cap {args.cap}, test 0.1, near-dup "
        f"threshold {args.near_dup or 'off'}; baseline = read the same approved rows and "
        "json.dumps each to one file. Targets: ratio < 2.00x, export peak RSS < 400 MB.",
        file=out,
    )
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
