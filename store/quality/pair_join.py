"""Candidate pairs of a batch's texts that can reach a ROUGE-L F1 threshold, verified: the
whole-array join behind `batch.scan_batch`, on numpy and rapidfuzz alone (no database, no
index), so that another process can run it (`pairs_worker`).

The batch is joined with itself in whole-array passes (numpy), not one query per text: every
text is tokenised once; sound filters keep the pairs that can still reach the threshold (a
prefix of each text's rarest tokens, each token probing only the partner lengths it can still
find, among the partners holding it within their own prefix; the count of shared
occurrences; a per-occurrence bitmap bound); rapidfuzz scores what is left in one call, each
text's most promising pair first. Each text's threshold is first raised to the score of a
likely match (the latest earlier text holding one of its rarest tokens), which shortens its
prefix: only texts that beat that score matter.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Indel

IntArray = npt.NDArray[np.int64]
# Postings' columns: text numbers and counts fit 32 bits (half the memory of int64).
Int32Array = npt.NDArray[np.int32]
# Candidate pairs of one chunk: i, j and the bound on their LCS.
_Pairs = tuple[IntArray, IntArray, npt.NDArray[np.float64]]
# rapidfuzz turns a similarity cutoff into a whole-number one and may drop a score that sits
# exactly on it: ask with a looser cutoff, keep scores >= threshold - SCORE_EPS ourselves.
_LOOSE = 1e-6
SCORE_EPS = 1e-9
# Candidate pairs expanded at once: bounds the temporary arrays (~50 bytes a pair).
_PAIR_CHUNK = 500_000
# Rarest tokens per text whose latest earlier holder is scored first (the seed).
_SEEDS = 3
# The batch is probed in this many runs of texts, each against the texts before its end.
_EARLIER_PARTS = 8
# Words of the per-text bitmap filter (2,048 bits).
_BITMAP_WORDS = 32
# Threads expanding chunks at most (each holds a chunk's temporaries, ~50 bytes a pair).
_MAX_THREADS = 4
# Extra prefix occurrences probed beyond what finding a partner needs, as a share of the
# text's length: the count filter then drops pairs sharing fewer than that many.
_SLACK = 0.04


@dataclass
class BatchPairs:
    """Candidate pairs (i, j), j < i, of a batch's texts, with their scores once verified."""

    i: IntArray
    j: IntArray
    score: npt.NDArray[np.float64]


def batch_pairs(
    texts: Sequence[str],
    threshold: float = 0.7,
    progress: Callable[[int, int], None] | None = None,
) -> BatchPairs:
    """The pairs within a batch (duplicates kept) that `scan_batch` chooses from, on the
    batch's own token codes: needs no index, so another process can find them."""
    # pyarrow (the tokens' hash table) loads only here: not for every importer of this module.
    from store.quality.token_stream import own_codes, token_stream

    seqs = own_codes(token_stream(texts))
    floor = np.full(len(seqs), threshold, dtype=np.float64)
    return candidate_pairs(seqs, threshold, floor, seed=True, progress=progress)


def usable_cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _threads() -> int:
    """Threads for the join's chunks and rapidfuzz's scoring."""
    return min(usable_cores(), _MAX_THREADS)


def _need(tau: npt.NDArray[Any], m: IntArray, n: IntArray) -> npt.NDArray[np.float64]:
    """The LCS a pair needs for ROUGE-L F1 >= tau: tau·(m+n)/2 (a whole number reaches it iff
    it reaches its ceiling, so no ceil)."""
    result: npt.NDArray[np.float64] = tau * (m + n) / 2 - SCORE_EPS
    return result


def _bounds(tau: npt.NDArray[Any], m: IntArray) -> tuple[IntArray, IntArray]:
    """`length_bounds` for arrays of thresholds and lengths."""
    lo = np.ceil(m * tau / (2 - tau) - SCORE_EPS).astype(np.int64)
    hi = np.floor(m * (2 - tau) / tau + SCORE_EPS).astype(np.int64)
    return lo, hi


def _prefix_size(tau: npt.NDArray[Any], m: IntArray) -> IntArray:
    """Occurrences of a text of length m one of which any match at tau must share:
    m - need + 1 for its shortest possible partner (the loosest need)."""
    lo, _ = _bounds(tau, m)
    size: IntArray = m - np.ceil(tau * (m + lo) / 2 - SCORE_EPS).astype(np.int64) + 1
    return size


def candidate_pairs(
    seqs: list[str],
    threshold: float,
    floor: npt.NDArray[np.float64],
    *,
    seed: bool,
    progress: Callable[[int, int], None] | None,
    split: int = 0,
) -> BatchPairs:
    """Every pair (i, j), j < i, that can reach max(threshold, floor[i]), verified.

    With `split` > 0 the texts before it are partners only (e.g. stored texts, in the order
    ties go by): pairs are (i >= split, j < split), and only each i's best ones are scored.

    ROUGE-L F1 >= t needs LCS >= need = t(m+n)/2, and LCS is at most the tokens (with
    multiplicity) the texts share. Per text i: length bounds; a prefix of its rarest tokens
    covering m - need_min + 1 occurrences, one of which any match must hold, and it must lie
    within the partner's prefix too (n - need + 1 of its own rarest); and the count filter:
    occurrences shared within both prefixes, plus those past the prefix that ends first in
    rank order, reach need.
    """
    b = len(seqs)
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=b)
    if b < 2 or not lens.any():
        return BatchPairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    p_rec, p_rank, weight, width = _ranked_tokens(seqs, lens)
    maps = _bitmaps(p_rec, p_rank, weight, b)
    rec_start = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(np.bincount(p_rec, minlength=b), out=rec_start[1:])
    cum = np.cumsum(weight)
    before = cum - weight - (cum - weight)[rec_start[:-1]][p_rec]
    del cum
    # A match shares an occurrence within both texts' prefixes (of m - need + 1): postings
    # hold each text's prefix for the loosest need any partner can ask of it.
    indexed = np.flatnonzero(before < _prefix_size(np.asarray(threshold), lens)[p_rec])
    index_w = np.bincount(p_rec[indexed], weights=weight[indexed], minlength=b).astype(np.int64)
    # Postings by (token rank, length, text): a length window is one slice.
    l_span = int(lens.max()) + 2
    # (By row number within a window: rows are in text order, and the key stays small.)
    win, rows = _sorted(
        p_rank[indexed] * l_span + lens[p_rec[indexed]], indexed, spans=(width * l_span, len(p_rec))
    )
    del indexed
    # (32 bits: the per-run copies below are half the size.)
    post_rec, post_b, post_w = (
        p_rec[rows].astype(np.int32),
        before[rows].astype(np.int32),
        weight[rows].astype(np.int32),
    )
    del rows

    raised = floor
    if seed and not split:
        raised = np.maximum(raised, _seed_scores(seqs, p_rec, p_rank, rec_start, b))
    # A little under the score to beat: ties with an earlier text must still be found.
    tau = np.where(raised > threshold, np.maximum(raised - SCORE_EPS, threshold), threshold)
    lo, hi = _bounds(tau, lens)
    budget = _prefix_size(tau, lens)
    ev = np.flatnonzero((before < budget[p_rec]) & (lens[p_rec] > 0) & (p_rec >= split))
    ev_rec, ev_rank, ev_w, ev_before = p_rec[ev], p_rank[ev], weight[ev], before[ev]
    del p_rec, p_rank, weight, before
    prefix_w = np.bincount(ev_rec, weights=ev_w, minlength=b).astype(np.int64)
    ev_lo = ev_rank * l_span + np.maximum(lo[ev_rec], 1)
    # A longer partner needs a longer LCS, so a shorter prefix finds it: an event probes the
    # lengths whose prefix (plus slack, for the count filter's sake) still reaches it.
    slack = np.ceil(_SLACK * lens)
    m_e = lens[ev_rec]
    reach = np.floor(2 * (m_e + slack[ev_rec] - ev_before + SCORE_EPS) / tau[ev_rec] - m_e)
    ev_hi = ev_rank * l_span + np.minimum(np.minimum(hi[ev_rec], reach), l_span - 1).astype(
        np.int64
    )
    del ev_before, reach, m_e
    ev_start = np.searchsorted(ev_rec, np.arange(b + 1))
    filt = _CountFilter(lens, tau, np.minimum(prefix_w, budget), index_w, slack, b)
    # Texts in _EARLIER_PARTS runs, each probing the postings of texts before its end only
    # (a mask keeps them sorted): the later texts of a window are never expanded.
    # (With a split every probe sees the same partners: one run.)
    cuts = np.linspace(split, b, (1 if split else _EARLIER_PARTS) + 1).astype(np.int64)
    # Chunks are expanded on every core this process may use (numpy lets go of the GIL in
    # its sorts and gathers), while this thread prepares the next run's postings: at most
    # two runs' postings are held at once.
    runs: deque[list[tuple[Future[_Pairs], int]]] = deque()
    out: list[_Pairs] = []

    def collect(keep: int) -> None:
        """The results of all runs but the last `keep`, in order (waiting for them)."""
        while len(runs) > keep:
            for job, done in runs.popleft():
                out.append(job.result())
                if progress is not None:
                    progress(done, b)

    pool = ThreadPoolExecutor(_threads())
    try:
        for q0, q1 in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            e0, e1 = int(ev_start[q0]), int(ev_start[q1])
            if e0 == e1:
                continue
            mask = post_rec < (split or q1)
            part_win, part_rec, part_b, part_w = (
                win[mask],
                post_rec[mask],
                post_b[mask],
                post_w[mask],
            )
            start = np.searchsorted(part_win, ev_lo[e0:e1], side="left")
            sizes = np.searchsorted(part_win, ev_hi[e0:e1], side="right") - start
            del part_win
            # Chunks of whole texts, about _PAIR_CHUNK expanded pairs each.
            per_text = np.zeros(q1 - q0 + 1, dtype=np.int64)
            counts = np.bincount(ev_rec[e0:e1] - q0, weights=sizes, minlength=q1 - q0)
            np.cumsum(counts, out=per_text[1:])
            r0, jobs = 0, []
            while r0 < q1 - q0:
                r1 = int(np.searchsorted(per_text, per_text[r0] + _PAIR_CHUNK, side="right")) - 1
                r1 = min(max(r1, r0 + 1), q1 - q0)
                a0, a1 = int(ev_start[q0 + r0]) - e0, int(ev_start[q0 + r1]) - e0
                job = pool.submit(
                    filt.pairs, start[a0:a1], sizes[a0:a1], ev_rec[e0 + a0 : e0 + a1],
                    ev_w[e0 + a0 : e0 + a1], part_rec, part_b, part_w,
                )  # fmt: skip
                jobs.append((job, q0 + r1))
                r0 = r1
            runs.append(jobs)
            collect(keep=1)
        collect(keep=0)
    finally:  # (on an error or Ctrl-C, chunks not started yet are dropped, not waited for)
        pool.shutdown(cancel_futures=True)
    del win, post_rec, post_b, post_w, ev_rec, ev_rank, ev_w, ev_lo, ev_hi
    if not out:
        return BatchPairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    i, j, bound = (np.concatenate(parts) for parts in zip(*out, strict=True))
    # The bitmap bound, over all occurrences: one more sound filter, a few words per pair.
    m, n = lens[i], lens[j]
    step = _PAIR_CHUNK // _BITMAP_WORDS
    differ = np.zeros(len(i), dtype=np.int64)
    for a in range(0, len(i), step):
        differ[a : a + step] = _popcount(maps[i[a : a + step]] ^ maps[j[a : a + step]])
    keep = (m + n - differ) / 2 >= _need(tau[i], m, n)
    i, j, bound = i[keep], j[keep], np.minimum(bound[keep], (m + n - differ)[keep] / 2)
    return _verify(seqs, lens, i, j, bound, threshold, prune=seed or split > 0)


def _bitmaps(rec: IntArray, code: IntArray, weight: IntArray, b: int) -> npt.NDArray[np.uint64]:
    """Per text, _BITMAP_WORDS words with one bit set per occurrence (the k-th copy of a
    token hashed apart from the others). Occurrences one text holds and the other does not
    set bits the other lacks, so |A and B| <= (|A| + |B| - popcount(a xor b)) / 2."""
    bits = _BITMAP_WORDS * 64
    maps = np.zeros(b * _BITMAP_WORDS, dtype=np.uint64)
    step = _PAIR_CHUNK // 4  # (text, token) rows at a time: bounds the temporaries
    for a in range(0, len(rec), step):
        w = weight[a : a + step]
        owner = np.repeat(np.arange(a, a + len(w)), w)
        nth = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(w) - w, w)
        h = (code[owner] * 0x9E3779B1 + nth * 0x85EBCA77) % 0xFFFFFFFB % bits
        one = np.left_shift(np.uint64(1), (h % 64).astype(np.uint64))
        # (An unbuffered OR per occurrence: no sort to group the words first.)
        np.bitwise_or.at(maps, rec[owner] * _BITMAP_WORDS + h // 64, one)
    return maps.reshape(b, _BITMAP_WORDS)


def _popcount(x: npt.NDArray[np.uint64]) -> IntArray:
    """Set bits per row."""
    counts: IntArray = np.bitwise_count(x).sum(axis=1, dtype=np.int64)
    return counts


def _verify(
    seqs: list[str],
    lens: IntArray,
    i: IntArray,
    j: IntArray,
    bound: npt.NDArray[np.float64],
    threshold: float,
    *,
    prune: bool,
) -> BatchPairs:
    """Scores of the candidate pairs. With `prune`, each text's most promising candidate is
    scored first, and the others only if their bound can still reach that score (every
    earlier text is kept, so a text's best match is the best of its candidates)."""
    if not prune or not len(i):
        return BatchPairs(i, j, _score_pairs(seqs, i, j, threshold))
    order = np.lexsort((j, -bound, i))
    i, j, bound = i[order], j[order], bound[order]
    first = np.flatnonzero(np.concatenate(([True], i[1:] != i[:-1])))
    scores = np.zeros(len(i), dtype=np.float64)
    scores[first] = _score_pairs(seqs, i[first], j[first], threshold)
    best = np.zeros(len(seqs), dtype=np.float64)
    best[i[first]] = scores[first]
    rest = np.ones(len(i), dtype=bool)
    rest[first] = False
    m, n = lens[i], lens[j]
    need = _need(best[i], m, n)
    rest &= (bound >= need) & (np.minimum(m, n) >= need)
    scores[rest] = _score_pairs(seqs, i[rest], j[rest], threshold)
    return BatchPairs(i, j, scores)


def _ranked_tokens(seqs: list[str], lens: IntArray) -> tuple[IntArray, IntArray, IntArray, int]:
    """Distinct (text, token) pairs in order of text, then token rank (rarest first: fewest
    occurrences in the batch), with the token's count in the text, and how many tokens there
    are: one sort of the token stream, _PAIR_CHUNK tokens at a time (texts are independent)."""
    ends = np.cumsum(lens)
    cuts = [0, *np.searchsorted(ends, np.arange(_PAIR_CHUNK, int(ends[-1]), _PAIR_CHUNK)).tolist()]
    cuts = [*sorted(set(cuts)), len(seqs)]
    span = 0x110000  # every code point
    chunks: list[tuple[int, int, npt.NDArray[np.uint32]]] = []
    freq = np.zeros(span, dtype=np.int64)
    for a, z in itertools.pairwise(cuts):
        if a < z:
            codes = np.frombuffer("".join(seqs[a:z]).encode("utf-32-le"), dtype=np.uint32)
            freq += np.bincount(codes, minlength=span)
            chunks.append((a, z, codes))
    # Any one order of the tokens serves the prefix filter; rarest first keeps prefixes rare.
    present = np.flatnonzero(freq)
    rank = np.zeros(span, dtype=np.int64)
    rank[present[np.argsort(freq[present], kind="stable")]] = np.arange(len(present))
    width = len(present)
    parts: list[tuple[IntArray, IntArray, IntArray]] = []
    for a, z, codes in chunks:
        # (Texts numbered within the chunk: a smaller key sorts faster.)
        rec = np.repeat(np.arange(z - a, dtype=np.int64), lens[a:z])
        key = _sort_packed(rec * width + rank[codes], (z - a) * width)
        first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        weight = np.diff(np.append(first, len(key)))
        row = key[first].astype(np.int64)
        parts.append((row // width + a, row % width, weight))
    rec_, rank_, weight_ = (np.concatenate(c) for c in zip(*parts, strict=True))
    return rec_, rank_, weight_, width


def _sorted(*cols: IntArray, spans: tuple[int, ...]) -> tuple[IntArray, ...]:
    """The columns reordered by (first, second, ...); `spans` bound each column's values.

    One sort of a packed key when the spans fit in 64 bits, else a lexsort."""
    if math.prod(spans) < 2**62:
        key = cols[0]
        for col, span in zip(cols[1:], spans[1:], strict=True):
            key = key * span + col
        packed = _sort_packed(key, math.prod(spans))
        out = []
        for span in reversed(spans[1:]):
            out.append((packed % span).astype(np.int64))
            packed = packed // span
        out.append(packed.astype(np.int64))
        return tuple(reversed(out))
    order = np.lexsort(cols[::-1])
    return tuple(c[order] for c in cols)


def _sort_packed(key: IntArray, span: int) -> npt.NDArray[np.integer[Any]]:
    """`key` (values below `span`) sorted, as 32-bit numbers when they fit: numpy sorts those
    in about 0.6 of the time of 64-bit ones."""
    if span <= 2**32:
        return np.sort(key.astype(np.uint32))
    return np.sort(key)


class _CountFilter:
    """Expands prefix events into (i, j) pairs, j < i, and keeps those whose shared
    occurrences can still reach the LCS they need."""

    def __init__(
        self,
        lens: IntArray,
        tau: npt.NDArray[np.float64],
        prefix_w: IntArray,
        index_w: IntArray,
        slack: npt.NDArray[np.float64],
        b: int,
    ) -> None:
        self.lens, self.tau, self.prefix_w, self.slack, self.b = lens, tau, prefix_w, slack, b
        self.index_w = index_w

    def _probed_size(
        self, m: IntArray, need: npt.NDArray[np.float64], t: IntArray
    ) -> npt.NDArray[np.float64]:
        """Occurrences of the texts t (of lengths m) probed for a partner needing `need`."""
        size: npt.NDArray[np.float64] = m - np.ceil(need) + 1 + self.slack[t]
        return size

    def pairs(
        self,
        start: IntArray,
        sizes: IntArray,
        ev_rec: IntArray,
        ev_w: IntArray,
        post_rec: Int32Array,
        post_b: Int32Array,
        post_w: Int32Array,
    ) -> _Pairs:
        """The surviving pairs of one chunk of prefix events (events of whole texts), with
        the bound on their shared occurrences."""
        total = int(sizes.sum())
        if not total:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        # Event e's postings are start[e], start[e] + 1, ...: repeats, not gathers.
        at = np.arange(total, dtype=np.int64) + np.repeat(start - (np.cumsum(sizes) - sizes), sizes)
        j = post_rec[at]
        i = np.repeat(ev_rec, sizes)
        earlier = np.flatnonzero(j < i)
        i, j, at = i[earlier], j[earlier], at[earlier]
        b, lens = self.b, self.lens
        # j's side of the prefix filter, for this partner's length: j's prefix probed.
        inside = post_b[at] < self._probed_size(lens[j], _need(self.tau[i], lens[i], lens[j]), j)
        i, j, at, earlier = i[inside], j[inside], at[inside], earlier[inside]
        if not len(i):
            return i, j, np.empty(0)
        # A token counts as often as both texts hold it.
        w = np.minimum(np.repeat(ev_w, sizes)[earlier], post_w[at])
        # Grouped by pair (numbered within the chunk's texts: a smaller key sorts faster).
        i0 = int(ev_rec[0])
        i, j, w = _sorted(i - i0, j, w, spans=(int(ev_rec[-1]) - i0 + 1, b, int(w.max()) + 1))
        pair = i * b + j
        first = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
        shared = np.add.reduceat(w, first)
        i, j = i[first] + i0, j[first]
        # Occurrences of i outside its prefix may all be shared; prefix ones only if counted.
        m, n, tau = lens[i], lens[j], self.tau[i]
        # The prefix probed for a partner of length n: m - need + 1 + slack occurrences (at
        # most the whole prefix), of which only the counted ones can be shared.
        need = _need(tau, m, n)
        probed = np.minimum(self._probed_size(m, need, i), self.prefix_w[i])
        probed_j = np.minimum(self._probed_size(n, need, j), self.index_w[j])
        # Occurrences not counted (not in both prefixes) all lie past the prefix that ends
        # first in rank order: outside i's probed prefix, or outside j's.
        bound = (shared + np.maximum(m - probed, n - probed_j)).astype(np.float64)
        keep = bound >= need
        return i[keep], j[keep], bound[keep]


def _seed_scores(
    seqs: list[str], p_rec: IntArray, p_rank: IntArray, rec_start: IntArray, b: int
) -> npt.NDArray[np.float64]:
    """Per text, the best score of the latest earlier texts holding one of its _SEEDS rarest
    tokens (0 if none): a score its best match reaches, so its search can start there."""
    counts = np.minimum(np.diff(rec_start), _SEEDS)
    texts = np.repeat(np.arange(b, dtype=np.int64), counts)
    nth = np.arange(len(texts)) - np.repeat(np.cumsum(counts) - counts, counts)
    rank = p_rank[rec_start[:-1][texts] + nth]
    # Holders of each token in text order: the latest earlier one sits just before.
    holders = _sort_packed(p_rank * b + p_rec, int(p_rank.max() + 1) * b).astype(np.int64)
    at = np.searchsorted(holders, rank * b + texts) - 1
    ok = (at >= 0) & (holders[np.maximum(at, 0)] // b == rank)
    me, other = texts[ok], holders[at[ok]] % b
    scores = np.zeros(b, dtype=np.float64)
    if len(me):
        np.maximum.at(scores, me, _score_pairs(seqs, me, other, 0.0))
    return scores


def _score_pairs(
    seqs: list[str], i: IntArray, j: IntArray, threshold: float
) -> npt.NDArray[np.float64]:
    """ROUGE-L F1 of each pair (rapidfuzz, in one call); 0 below the threshold."""
    if not len(i):
        return np.empty(0, dtype=np.float64)
    texts = np.array(seqs, dtype=object)
    scores: npt.NDArray[np.float64] = process.cpdist(
        texts[i],
        texts[j],
        scorer=Indel.normalized_similarity,
        processor=None,
        score_cutoff=max(threshold - _LOOSE, 0.0),
        dtype=np.float64,
        workers=_threads(),
    )
    return scores
