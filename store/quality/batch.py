"""Near-duplicates in a batch of new texts (an import file, a set of drafts), within the batch
and against the stored corpus: the stored side by indexed queries, the batch's own pairs by
one whole-array join (`pair_join`). The decisions are those of an exhaustive ROUGE-L scan and
of per-row index queries (tests/test_quality_batch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from store.quality.dedup import DedupIndex, NearMatch
from store.quality.pair_join import SCORE_EPS, BatchPairs, candidate_pairs

# The stored side is joined with the batch (not queried text by text) while the store holds
# at most this many texts per batch text, plus _JOIN_STORED_ALWAYS: one indexed query costs
# about as much as joining a few stored texts with the whole batch.
_JOIN_STORED_PER_TEXT = 8
_JOIN_STORED_ALWAYS = 10_000
# Stored texts joined at a time: bounds the join's arrays (some 75 bytes a token).
_STORED_PART = 20_000


@dataclass(frozen=True)
class BatchItem:
    """A text of the batch: `ref` says where it is (e.g. "line 17")."""

    ref: str
    text: str
    category_slug: str


@dataclass(frozen=True)
class BatchDuplicate:
    """A batch item whose nearest earlier text (stored, or earlier in the batch) is too close."""

    ref: str
    score: float
    # "line 3" for an earlier item of the batch, "example #42" for a stored example.
    match_ref: str
    match_category: str
    match_text: str
    in_batch: bool


def scan_batch(
    index: DedupIndex,
    items: Sequence[BatchItem],
    *,
    threshold: float = 0.7,
    keep_duplicates: bool = True,
    progress: Callable[[int, int], None] | None = None,
    within: Callable[[], BatchPairs] | None = None,
) -> list[BatchDuplicate]:
    """Each item's best match >= threshold among the index and the items before it.

    Of equal scores the stored example wins, then the earliest item. With `keep_duplicates`
    False a duplicate is left out, as it will be left out of the import, and later items are
    compared with what is kept. The index is not changed (its vocabulary may grow).
    `progress(done, total)` is told how far the scan is. `within` gives the items'
    `batch_pairs` found elsewhere (another process), asked for after the stored matches.
    """
    total = len(items)
    if progress is not None and within is None:  # (else `within` tells how far it got)
        progress(0, total)
    texts = [item.text for item in items]
    if within is None:
        seqs = index.encode_many(texts)
        stored = _stored_best(index, seqs, threshold)
        # A batch text must beat the stored match (ties go to the stored example).
        floor = np.array([h.score if h is not None else threshold for h in stored])
        pairs = candidate_pairs(seqs, threshold, floor, seed=keep_duplicates, progress=progress)
    else:
        if not keep_duplicates:
            raise ValueError("batch_pairs keeps every duplicate: not for keep_duplicates=False")
        # The stored side needs the texts in the index's codes; with nothing stored, no codes.
        seqs = index.encode_many(texts) if len(index) else [""] * total
        stored = _stored_best(index, seqs, threshold)
        pairs = within()
    best = _choose(pairs, stored, total, threshold, keep_duplicates)
    if progress is not None:
        progress(total, total)
    return _duplicates(items, best)


def _duplicates(
    items: Sequence[BatchItem], best: list[NearMatch | tuple[int, float] | None]
) -> list[BatchDuplicate]:
    """The chosen matches as BatchDuplicates, in item order."""
    found: list[BatchDuplicate] = []
    for item, hit in zip(items, best, strict=True):
        if hit is None:
            continue
        if isinstance(hit, NearMatch):
            found.append(
                BatchDuplicate(
                    item.ref,
                    hit.score,
                    f"example #{hit.example_id}",
                    hit.category_slug,
                    hit.text,
                    in_batch=False,
                )
            )
        else:
            j, score = hit
            other = items[j]
            found.append(
                BatchDuplicate(
                    item.ref, score, other.ref, other.category_slug, other.text, in_batch=True
                )
            )
    return found


def _stored_best(index: DedupIndex, seqs: list[str], threshold: float) -> list[NearMatch | None]:
    """Each text's best stored match; of equal scores the one in the lowest slot, as an
    index query gives. A store up to a few times the batch's size is joined with the batch,
    a part at a time; a larger one gets one indexed query per text."""
    if not len(index):
        return [None] * len(seqs)
    if len(index) <= _JOIN_STORED_PER_TEXT * len(seqs) + _JOIN_STORED_ALWAYS:
        return _stored_best_joined(index, seqs, threshold)
    out: list[NearMatch | None] = []
    for seq in seqs:
        hits = index.nearest_coded(seq, k=1, threshold=threshold)
        out.append(hits[0] if hits else None)
    return out


def _stored_best_joined(
    index: DedupIndex, seqs: list[str], threshold: float
) -> list[NearMatch | None]:
    """`_stored_best` by joining the batch with _STORED_PART stored texts at a time (each
    part a split `candidate_pairs`); a later part's match must score higher to win."""
    b = len(seqs)
    best = np.zeros(b, dtype=np.float64)
    where = np.full(b, -1, dtype=np.int64)
    slots = index.live_slots()
    for start in range(0, len(slots), _STORED_PART):
        part = slots[start : start + _STORED_PART]
        stored = index.coded_at(part)
        k = len(stored)
        floor = np.concatenate((np.full(k, threshold), np.maximum(best, threshold)))
        pairs = candidate_pairs(stored + seqs, threshold, floor, seed=False, progress=None, split=k)
        ok = pairs.score >= threshold - SCORE_EPS
        i, j, score = pairs.i[ok] - k, pairs.j[ok], pairs.score[ok]
        order = np.lexsort((j, -score, i))  # per text: best score first, then lowest slot
        i, j, score = i[order], j[order], score[order]
        first = np.flatnonzero(np.concatenate(([True], i[1:] != i[:-1]))) if len(i) else i
        i, j, score = i[first], j[first], score[first]
        won = score > best[i] + SCORE_EPS
        best[i[won]], where[i[won]] = score[won], part[j[won]]
    return [
        index.match_at(int(slot), float(score)) if slot >= 0 else None
        for slot, score in zip(where.tolist(), best.tolist(), strict=True)
    ]


def _choose(
    pairs: BatchPairs,
    stored: list[NearMatch | None],
    total: int,
    threshold: float,
    keep_duplicates: bool,
) -> list[NearMatch | tuple[int, float] | None]:
    """Each text's best match: the stored one, unless an earlier (kept) text scores higher;
    of equal batch scores the earliest text."""
    ok = pairs.score >= threshold - SCORE_EPS
    i, j, score = pairs.i[ok], pairs.j[ok], pairs.score[ok]
    order = np.lexsort((j, -score, i))  # per text: best score first, then earliest
    i, j, score = i[order], j[order], score[order]
    starts = np.flatnonzero(np.concatenate(([True], i[1:] != i[:-1]))) if len(i) else i
    ends = np.append(starts[1:], len(i)) if len(i) else i
    best: list[NearMatch | tuple[int, float] | None] = list(stored)
    kept = np.ones(total, dtype=bool)
    spans = zip(starts.tolist(), ends.tolist(), strict=True)
    group = dict(zip(i[starts].tolist(), spans, strict=True))
    for position in range(total):
        span = group.get(position)
        if span is not None:
            a, z = span
            if keep_duplicates:
                pick = a
            else:
                alive = np.flatnonzero(kept[j[a:z]])
                pick = a + int(alive[0]) if len(alive) else -1
            if pick >= 0:
                hit = best[position]
                s = float(score[pick])
                if hit is None or (isinstance(hit, NearMatch) and s > hit.score):
                    best[position] = (int(j[pick]), s)
        if not keep_duplicates and best[position] is not None:
            kept[position] = False
    return best
