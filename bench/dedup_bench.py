"""Near-duplicate index benchmark: build time, one-query latency on one core, vs rouge-score.

Corpus: every instruction/prompt in ../shared/datasets (T0 prompts 55,185 + Self-Instruct seed
tasks 175 + user-oriented instructions 252 = 55,612), standing in for the 67,013 instructions
of Dolly 15k + Alpaca 52k, which are not available on these machines.

Run: .venv/bin/python bench/dedup_bench.py [--queries 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel
from rouge_score import rouge_scorer

from store.quality.dedup import DedupIndex, rouge_l_f1, tokenize

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
THRESHOLD = 0.7
# rouge-score's pure-Python LCS is quadratic: pairs for its timing and labels are drawn from
# texts up to this many tokens (most of the corpus), which flatters rouge-score, not us.
MAX_PAIR_TOKENS = 1000


def load_corpus() -> tuple[list[str], dict[str, int], list[str]]:
    """All prompts/instructions in the shared datasets, per-source counts, and T0 completions."""
    texts: list[str] = []
    counts: dict[str, int] = {}
    completions: list[str] = []
    with gzip.open(DATASETS / "t0_train_50k.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(row["prompt"])
            completions.append(row["completion"])
    counts["T0 prompts"] = len(texts)
    for name, label in (
        ("self_instruct_seed_tasks.jsonl", "Self-Instruct seed tasks"),
        ("self_instruct_user_oriented_instructions.jsonl", "user-oriented instructions"),
    ):
        rows = [json.loads(line)["instruction"] for line in (DATASETS / name).open()]
        texts.extend(rows)
        counts[label] = len(rows)
    return texts, counts, completions


def make_queries(
    corpus: list[str], completions: list[str], n: int, rng: random.Random
) -> list[tuple[str, str]]:
    """(kind, text): a third near-duplicates of corpus texts, the rest novel texts."""
    queries: list[tuple[str, str]] = []
    per = n // 3
    for _ in range(per):
        words = rng.choice(corpus).split()
        kind = rng.choice(["case+punctuation", "one word replaced", "one word dropped"])
        if kind == "case+punctuation":
            text = re.sub(r"[,.?!:;]", "", " ".join(words)).upper()
        elif kind == "one word replaced":
            words[rng.randrange(len(words))] = "meanwhile"
            text = " ".join(words)
        else:
            del words[rng.randrange(len(words))]
            text = " ".join(words) or "empty"
        queries.append(("near-duplicate: " + kind, text))
    for _ in range(per):
        # Same words as a corpus text, shuffled: high token overlap, low LCS (hard for filters).
        words = rng.choice(corpus).split()
        rng.shuffle(words)
        queries.append(("novel: shuffled corpus words", " ".join(words)))
    pool = [c for c in completions if len(tokenize(c)) >= 5]
    while len(queries) < n:
        queries.append(("novel: T0 completion", rng.choice(pool)))
    return queries


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    """Build, query, compare, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-queries", type=int, default=10)
    parser.add_argument("--baseline-pairs", type=int, default=100)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as asked
    rng = random.Random(args.seed)

    corpus, counts, completions = load_corpus()
    print(f"corpus: {len(corpus):,} texts = " + " + ".join(f"{v:,} {k}" for k, v in counts.items()))
    print("  (stand-in for Dolly 15k + Alpaca 52k = 67,013 instructions, not available here)")

    started = time.perf_counter()
    index = DedupIndex()
    index.add_many((i, text, "bench") for i, text in enumerate(corpus))
    build_s = time.perf_counter() - started

    queries = make_queries(corpus, completions, args.queries, rng)
    for _, text in queries[:5]:  # warm caches (first numpy/rapidfuzz calls)
        index.nearest(text, k=5, threshold=THRESHOLD)
    latencies: list[float] = []
    results: list[set[int]] = []
    for _, text in queries:
        t0 = time.perf_counter()
        hits = index.nearest(text, k=5, threshold=THRESHOLD)
        latencies.append(time.perf_counter() - t0)
        results.append({h.example_id for h in hits})

    # rouge-score, the way Self-Instruct used it: per pair, on a sample, scaled to the corpus.
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    short = [i for i, t in enumerate(corpus) if len(tokenize(t)) <= MAX_PAIR_TOKENS]
    pairs = [
        (text, corpus[j])
        for _, text in rng.sample(queries, args.baseline_queries)
        for j in rng.sample(short, args.baseline_pairs)
    ]
    t0 = time.perf_counter()
    for a, b in pairs:
        scorer.score(a, b)
    rouge_pair = (time.perf_counter() - t0) / len(pairs)
    tokenized = [(scorer._tokenizer.tokenize(a), scorer._tokenizer.tokenize(b)) for a, b in pairs]
    t0 = time.perf_counter()
    for ta, tb in tokenized:
        rouge_scorer._score_lcs(ta, tb)
    rouge_pretok_pair = (time.perf_counter() - t0) / len(pairs)
    t0 = time.perf_counter()
    for a, b in pairs:
        rouge_l_f1(a, b)
    ours_pair = (time.perf_counter() - t0) / len(pairs)

    # Agreement 1: the index (filters + rapidfuzz) vs exhaustive rapidfuzz over the whole corpus.
    encoded = [index._encode(tokenize(t), grow=False) for t in corpus]
    qenc = [index._encode(tokenize(t), grow=False) for _, t in queries]
    exhaustive_sets: list[set[int]] = []
    for q in qenc:
        found = process.extract(
            q,
            encoded,
            scorer=Indel.normalized_similarity,
            processor=None,
            score_cutoff=THRESHOLD - 1e-6,
            limit=None,
        )
        exhaustive_sets.append({j for _, s, j in found if s >= THRESHOLD - 1e-9})
    top5_same = 0
    decision_same = 0
    for got, exact, q in zip(results, exhaustive_sets, qenc, strict=True):
        decision_same += bool(got) == bool(exact)
        best = sorted(exact, key=lambda j: (-Indel.normalized_similarity(q, encoded[j]), j))[:5]
        top5_same += got == set(best) or (len(exact) > 5 and len(got) == 5 and got <= exact)

    # Agreement 2: labelled pairs, rouge-score's decision vs ours at 0.7.
    labelled: list[tuple[str, str]] = []
    for (_, text), exact in zip(queries, exhaustive_sets, strict=True):
        near = [j for j in exact if len(tokenize(corpus[j])) <= MAX_PAIR_TOKENS][:3]
        far = rng.sample(short, 3)
        labelled.extend((text, corpus[j]) for j in near + far)
    same = positives = 0
    max_diff = 0.0
    for a, b in labelled:
        ref = scorer.score(a, b)["rougeL"].fmeasure
        ours = rouge_l_f1(a, b)
        positives += ref >= THRESHOLD
        same += (ref >= THRESHOLD) == (ours >= THRESHOLD)
        max_diff = max(max_diff, abs(ref - ours))

    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    mean = statistics.fmean(latencies)
    n = len(corpus)
    kinds: dict[str, int] = {}
    for kind, _ in queries:
        kinds[kind] = kinds.get(kind, 0) + 1
    rows = [
        ("index build (tokenize + encode + postings)", f"{build_s:.2f} s", f"{len(index):,} texts"),
        ("queries", f"{len(queries)}", ", ".join(f"{v} {k}" for k, v in kinds.items())),
        ("one query, p50 (1 core)", f"{p50 * 1e3:.2f} ms", "DedupIndex.nearest k=5 t=0.7"),
        ("one query, p99 (1 core)", f"{p99 * 1e3:.2f} ms", ""),
        ("one query, mean (1 core)", f"{mean * 1e3:.2f} ms", ""),
        (
            "rouge-score per pair",
            f"{rouge_pair * 1e6:.1f} µs",
            f"{len(pairs):,} pairs, scorer.score",
        ),
        ("rouge-score per pair, pre-tokenized", f"{rouge_pretok_pair * 1e6:.1f} µs", "_score_lcs"),
        ("ours per pair (rouge_l_f1, no index)", f"{ours_pair * 1e6:.1f} µs", "tokenize + Indel"),
        ("rouge-score per query (x corpus)", f"{rouge_pair * n * 1e3:,.0f} ms", f"{n:,} pairs"),
        ("rouge-score per query, pre-tok.", f"{rouge_pretok_pair * n * 1e3:,.0f} ms", ""),
        ("speed-up vs rouge-score, p50", f"{rouge_pair * n / p50:,.0f}x", "target >= 500x"),
        ("speed-up vs pre-tokenized, p50", f"{rouge_pretok_pair * n / p50:,.0f}x", ""),
        ("speed-up vs pre-tokenized, mean", f"{rouge_pretok_pair * n / mean:,.0f}x", ""),
        (
            "index = exhaustive scan (has match?)",
            f"{decision_same}/{len(queries)}",
            "rapidfuzz over all texts, t=0.7",
        ),
        ("index = exhaustive scan (top 5)", f"{top5_same}/{len(queries)}", ""),
        (
            "same decision as rouge-score at 0.7",
            f"{same}/{len(labelled)}",
            f"labelled pairs, {positives} >= 0.7; max |diff| {max_diff:.1e}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>{vwidth}}  note")
    print(f"{'-' * width}  {'-' * vwidth}  ----")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>{vwidth}}  {note}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    version = sys.version.split()[0]
    print(f"(machine load average {load:.1f}; numpy {np.__version__}; python {version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
