"""Benchmark: LLM drafts against the local double with fixed latency, vs the ideal wall time.

    .venv/bin/python bench/generate_bench.py [--drafts 200] [--latency 0.5] [--concurrency 8]

Ideal = drafts × latency / concurrency (one draft per request; only the double's latency).
Target: within 1.3x. The double runs in its own process, so the figures are ours alone.
Three runs: timed at the given latency; timed at ~zero latency (our own overhead); and one
under tracemalloc for peak Python allocations (tracemalloc slows Python, so it is not timed).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generators.drafts import GenerationReport, generate_drafts
from generators.llm_client import make_client
from migrations import runner
from store.categories import seed_default_categories
from store.db import make_engine, make_session_factory, session_scope
from store.quality.dedup import DedupIndex
from store.quality.pii import scrub_pii

# The double is run from the project root, where `tests` is importable.
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def double_process(latency: float) -> Iterator[str]:
    """The LLM double (tests/llm_double.py) in a child process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.llm_double", "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def one_run(
    drafts: int, latency: float, concurrency: int, *, trace: bool
) -> tuple[float, int, GenerationReport]:
    """(wall seconds, peak traced bytes, report) of one run on a fresh SQLite database."""
    with tempfile.TemporaryDirectory() as tmp, double_process(latency) as base_url:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        runner.upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with session_scope(sessions) as s:
            seed_default_categories(s)
        client = make_client(base_url=base_url, api_key="bench", timeout=30)
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        report = generate_drafts(
            sessions,
            client,
            model="bench-model",
            categories=["open_qa"],
            count=drafts,
            per_request=1,
            concurrency=concurrency,
            daily_token_budget=10**9,
            seed=1,
            scrub=scrub_pii,
            duplicate_index=DedupIndex.from_session,
        )
        wall = time.perf_counter() - started
        peak = 0
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        engine.dispose()
    return wall, peak, report


def main() -> int:
    """Run and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--drafts", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    n, lat, conc = args.drafts, args.latency, args.concurrency
    wall, _, report = one_run(n, lat, conc, trace=False)
    bare, _, _ = one_run(n, 0.0, conc, trace=False)
    _, peak, _ = one_run(n, 0.0, conc, trace=True)
    rep = report.categories["open_qa"]
    ideal = n * lat / conc
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("drafts asked / kept", f"{rep.asked} / {rep.kept}", f"{rep.requests} requests"),
        ("concurrency / latency", f"{conc} / {lat:.3f} s", "double in its own process"),
        ("wall time", f"{wall:.2f} s", f"ideal {ideal:.2f} s"),
        ("ratio wall / ideal", f"{wall / ideal:.3f}x", "target <= 1.30x"),
        ("wall at zero latency", f"{bare:.2f} s", f"{bare / n * 1000:.1f} ms per draft"),
        ("peak Python allocations", f"{peak / 2**20:.1f} MiB", "tracemalloc, separate run"),
        ("max RSS of this process", f"{maxrss:.1f} MiB", "ru_maxrss"),
    ]
    print(f"{'measure':<26}{'value':>18}  baseline / note")
    print("-" * 70)
    for name, value, note in rows:
        print(f"{name:<26}{value:>18}  {note}")
    verdict = "within" if wall / ideal <= 1.3 else "OUTSIDE"
    print(f"\nresult: {verdict} the 1.3x target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
