"""`scan_batch` (the import's near-duplicate pass) agrees with a brute-force scan."""

from __future__ import annotations

import random

import pytest
from rapidfuzz.distance import Indel

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


@pytest.mark.parametrize("keep_duplicates", [True, False])
@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_scan_batch_matches_brute_force(threshold: float, keep_duplicates: bool) -> None:
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
