"""`scan_batch` (the import's near-duplicate pass) agrees with a brute-force scan."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from rapidfuzz.distance import Indel

from store.quality import batch, pair_join
from store.quality.batch import BatchItem, scan_batch
from store.quality.dedup import DedupIndex, tokenize


def _brute_force(
    stored: dict[int, str], items: list[BatchItem], threshold: float, keep_duplicates: bool
) -> list[tuple[str, float, str, bool]]:
    """Each item's best match among stored texts and earlier kept items; of equal scores, the
    one indexed first (with k=1 the index keeps rapidfuzz's first best, in slot order)."""
    pool = {i: tokenize(t) for i, t in stored.items()}
    refs = {i: f"example #{i}" for i in stored}
    out: list[tuple[str, float, str, bool]] = []
    for position, item in enumerate(items):
        tokens = tokenize(item.text)
        scored = [
            (float(Indel.normalized_similarity(tokens, other)), i)
            for i, other in pool.items()
            if tokens and other
        ]
        best: tuple[float, int] | None = None
        for score, i in scored:  # in indexing order
            if score >= threshold and (best is None or score > best[0]):
                best = (score, i)
        if best is not None:
            out.append((item.ref, best[0], refs[best[1]], best[1] < 0))
        if keep_duplicates or best is None:
            pool[-(position + 1)] = tokens
            refs[-(position + 1)] = item.ref
    return out


@pytest.fixture(params=["joined", "joined-in-parts", "per-row"])
def stored_side(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the stored side is searched: one join, a join of a few stored texts at a time
    (ties across parts), or one index query per text (a store far larger than the batch)."""
    if request.param == "joined-in-parts":
        monkeypatch.setattr(batch, "_STORED_PART", 7)
    elif request.param == "per-row":
        monkeypatch.setattr(batch, "_JOIN_STORED_PER_TEXT", 0)
        monkeypatch.setattr(batch, "_JOIN_STORED_ALWAYS", 0)
    return str(request.param)


@pytest.fixture(params=["whole-runs", "small-chunks"])
def chunking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each run of the batch's probes expanded in one chunk, or in many small ones that the
    join's threads take in parallel (their results must come back in order)."""
    if request.param == "small-chunks":
        monkeypatch.setattr(pair_join, "_PAIR_CHUNK", 64)
    return str(request.param)


@pytest.mark.parametrize("keep_duplicates", [True, False])
@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_scan_batch_matches_brute_force(
    threshold: float, keep_duplicates: bool, stored_side: str, chunking: str
) -> None:
    rng = random.Random(int(threshold * 10) + keep_duplicates)
    vocab = [f"w{i}" for i in range(40)] + ["the", "a", "of"] * 10
    base = [" ".join(rng.choices(vocab, k=rng.randint(1, 40))) for _ in range(60)]

    def variant() -> str:
        words = rng.choice(base).split()
        for _ in range(rng.randint(0, 4)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        return " ".join(words)

    stored = {i: variant() for i in range(1, 150)}
    texts = [variant() for _ in range(250)] + ["", "...", "unseen words only here"]
    items = [BatchItem(f"line {n}", t, "open_qa") for n, t in enumerate(texts, start=1)]
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in stored.items())
    found = scan_batch(index, items, threshold=threshold, keep_duplicates=keep_duplicates)
    expected = _brute_force(stored, items, threshold, keep_duplicates)
    got = [(d.ref, d.score, d.match_ref, d.in_batch) for d in found]
    assert [(g[0], g[2], g[3]) for g in got] == [(e[0], e[2], e[3]) for e in expected]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected], abs=1e-9)
    assert expected  # the data do hold near-duplicates


def _per_row(
    stored: dict[int, str], items: list[BatchItem], threshold: float, keep_duplicates: bool
) -> list[tuple[str, float, str, bool]]:
    """The import's check as it was: one `DedupIndex.nearest` query per row against an index
    of the stored texts and the earlier (kept) rows, each row added after its query."""
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in stored.items())
    base = max(stored, default=0) + 1  # rows get ids above the stored ones, in order
    out: list[tuple[str, float, str, bool]] = []
    for position, item in enumerate(items):
        hits = index.nearest(item.text, k=1, threshold=threshold)
        if hits:
            hit = hits[0]
            in_batch = hit.example_id >= base
            ref = items[hit.example_id - base].ref if in_batch else f"example #{hit.example_id}"
            out.append((item.ref, hit.score, ref, in_batch))
        if keep_duplicates or not hits:
            index.add(base + position, item.text, item.category_slug)
    return out


@pytest.mark.parametrize("keep_duplicates", [True, False])
def test_batch_decisions_equal_per_row_queries_on_real_prompts(
    keep_duplicates: bool, stored_side: str
) -> None:
    """On 1,500 T0 prompts (passages shared across templates, so dense groups of near-
    duplicates) plus stored copies and exact repeats, the whole-batch join decides exactly
    what per-row index queries decide: same rows, same matches, same scores."""
    from bench import datasets as ds
    from store.quality.dedup import prompt_text

    if not (ds.SHARED_DATASETS / ds.T0).is_file():
        pytest.skip(f"shared datasets not found at {ds.SHARED_DATASETS}")
    records = ds.t0_dolly(ds.spread(ds.t0_rows(), 1_500))
    texts = [prompt_text(r["instruction"], r.get("context") or "") for r in records]
    rng = random.Random(12)
    # Stored: some of the file's own texts (ties with a stored copy go to the stored one).
    stored = {10 + 3 * k: t for k, t in enumerate(rng.sample(texts, 60))}
    texts += rng.sample(texts, 40)  # exact repeats later in the file: ties between rows
    items = [BatchItem(f"line {n}", t, "closed_qa") for n, t in enumerate(texts, start=1)]
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in stored.items())
    found = scan_batch(index, items, keep_duplicates=keep_duplicates)
    expected = _per_row(stored, items, 0.7, keep_duplicates)
    assert [(d.ref, d.score, d.match_ref, d.in_batch) for d in found] == expected
    assert sum(e[3] for e in expected) > 200  # in-file near-duplicates
    assert sum(not e[3] for e in expected) >= 60  # matches of stored texts


@pytest.mark.parametrize("keep_duplicates", [True, False])
def test_batch_whose_candidates_all_fail_the_filters_has_no_duplicates(
    keep_duplicates: bool,
) -> None:
    """Texts that share a rare word (so the prefix pairs them) but little else: every pair is
    dropped by the count and bitmap filters, and the scan says so instead of failing."""
    texts = [
        f"zebra {' '.join(f'w{k}x{n}' for k in range(30))}" for n in range(6)
    ]  # one shared token, thirty of their own
    items = [BatchItem(f"line {n}", t, "open_qa") for n, t in enumerate(texts, start=1)]
    assert scan_batch(DedupIndex(), items, keep_duplicates=keep_duplicates) == []
    assert _brute_force({}, items, 0.7, keep_duplicates) == []


def test_a_chunk_that_fails_stops_the_join_and_drops_what_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error in one of the join's threads reaches the caller, and the chunks queued behind
    it are dropped, not run: the caller (or Ctrl-C) is not kept waiting for the rest."""
    monkeypatch.setattr(pair_join, "_PAIR_CHUNK", 64)
    expand = pair_join._CountFilter.pairs
    calls: list[int] = []
    failing = threading.Event()

    def counted(self: pair_join._CountFilter, *args: Any) -> pair_join._Pairs:
        calls.append(1)
        if failing.is_set():
            if len(calls) == 2:
                raise MemoryError("chunk 2")
            time.sleep(0.005)  # slow chunks: the caller queues two runs' worth meanwhile
        return expand(self, *args)

    monkeypatch.setattr(pair_join._CountFilter, "pairs", counted)
    texts = [f"w{n % 7} w{n % 11} w{n % 13} the a of" for n in range(600)]
    pair_join.batch_pairs(texts)
    every = len(calls)
    assert every > 100  # many chunks in each run
    calls.clear()
    failing.set()
    with pytest.raises(MemoryError, match="chunk 2"):
        pair_join.batch_pairs(texts)
    # Run to the end of the two runs queued, it would be about a quarter of every chunk.
    assert len(calls) < every // 16
