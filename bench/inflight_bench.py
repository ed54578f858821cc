"""A near-duplicate check while another session's submission is still open (issue 13).

Session A submits an example through the quality gate and keeps its transaction open (the
gate has already added the example to the shared index); session B, in the same process,
then runs a check of an unrelated text. Before the fix B's catch-up saw the index hold one
more example than the committed count and compared every id (`DedupIndex._reconcile`); the
bench times B's check, counts those comparisons, and then ends A's transaction (rollback and
commit in turn). For reference it also times B's check with nothing open.

    .venv/bin/python -m bench.inflight_bench [--sizes 20000,200000] [--rounds 20]
        [--databases postgresql] [--seed 1]

The store is filled as bench/ack_bench.py fills it (bench/bulk.py, texts over a Zipf
vocabulary, timestamps spread over two years).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from bench.ack_bench import Words, database, fill_store
from store.categories import get_category
from store.db import make_engine, make_session_factory, session_scope
from store.examples import NeedsConfirmation, PairText, ValidationFailed, submit_example
from store.quality.dedup import DedupIndex
from store.quality.gate import CorpusQualityGate


class Reconciles:
    """Counts calls of `DedupIndex._reconcile` (the full id comparison) while installed."""

    def __init__(self) -> None:
        self.calls = 0
        self.original = DedupIndex._reconcile
        counter = self

        def counted(index: DedupIndex, session: Any) -> int:
            counter.calls += 1
            return counter.original(index, session)

        DedupIndex._reconcile = counted  # type: ignore[method-assign]


def _text(words: Words) -> PairText:
    return PairText(words.sentence(12).removesuffix(".") + "?", "", words.sentence(24))


def _check_ms(sessions: Any, gate: CorpusQualityGate, words: Words) -> float:
    """Session B: one check of a fresh text in a transaction of its own (ms)."""
    with session_scope(sessions) as b:
        category = get_category(b, "open_qa")
        start = time.perf_counter()
        gate.check(b, category, _text(words))
        return (time.perf_counter() - start) * 1000


def probe(url: str, rounds: int, words: Words) -> dict[str, Any]:
    """Time B's check with A's submission open, and with nothing open; count reconciles."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as s:
        gate = CorpusQualityGate(DedupIndex.from_session(s))
    spy = Reconciles()
    idle = [_check_ms(sessions, gate, words) for _ in range(rounds)]
    idle_reconciles = spy.calls
    open_ms: list[float] = []
    for r in range(rounds):
        a = sessions()
        try:
            while True:  # a random text may still come out a near-duplicate: draw another
                try:
                    submit_example(
                        a,
                        category=get_category(a, "open_qa"),
                        text=_text(words),
                        author=None,
                        gate=gate,
                        confirmed=True,
                    )
                    break
                except (ValidationFailed, NeedsConfirmation):
                    a.rollback()
            open_ms.append(_check_ms(sessions, gate, words))
            if r % 2:
                a.commit()
            else:
                a.rollback()
        finally:
            a.close()
    after = [_check_ms(sessions, gate, words) for _ in range(rounds)]
    engine.dispose()
    return {
        "indexed": len(gate.index),
        "idle_ms": idle,
        "open_ms": open_ms,
        "after_ms": after,
        "reconciles_idle": idle_reconciles,
        "reconciles_open_and_after": spy.calls - idle_reconciles,
    }


def _fmt(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"p50 {statistics.median(ordered):8.2f}  p90 {p90:8.2f}  max {ordered[-1]:8.2f}"


def main() -> int:
    """Run the probe at each size and database and print one block per store."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--databases", default="postgresql")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for kind in args.databases.split(","):
        for size in (int(x) for x in args.sizes.split(",")):
            words = Words(random.Random(args.seed))
            with database(kind) as url:
                start = time.perf_counter()
                fill_store(url, size, max(1, size // 100), words)
                filled = time.perf_counter() - start
                out = probe(url, args.rounds, words)
            print(
                f"{kind} {size:,} examples (filled in {filled:.0f} s, {out['indexed']:,} indexed)"
            )
            print(f"  B's check, nothing open            {_fmt(out['idle_ms'])} ms")
            print(f"  B's check, A's submission open     {_fmt(out['open_ms'])} ms")
            print(f"  B's check, after A ended           {_fmt(out['after_ms'])} ms")
            print(
                f"  reconciles: {out['reconciles_idle']} with nothing open, "
                f"{out['reconciles_open_and_after']} in {2 * args.rounds} checks with A open/after"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
