"""Train/test split stratified by category and grouped by author."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from exporters.balance import choose

NO_AUTHOR = -1
TEST = 1
TRAIN = 0


def assign_split(
    categories: Sequence[str], authors: Sequence[int], test_size: float, seed: int
) -> bytearray:
    """Mark each example TEST or TRAIN (parallel to the inputs).

    One author's examples all land on one side. Authors are placed largest first, each on the
    test side only when that brings the per-category test counts closer to
    `test_size * n_c`, counting what rows without an author can still fill; those rows
    (imported, transformed) are groups of one and fill each category to within one example
    of its share.
    """
    marks = bytearray(len(categories))
    if test_size <= 0 or not categories:
        return marks
    sizes: dict[str, int] = defaultdict(int)
    by_author: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    loose: dict[str, list[int]] = defaultdict(list)
    for i, (cat, author) in enumerate(zip(categories, authors, strict=True)):
        sizes[cat] += 1
        if author == NO_AUTHOR:
            loose[cat].append(i)
        else:
            by_author[author][cat] += 1
    share = {c: test_size * n for c, n in sizes.items()}
    placed: dict[str, int] = defaultdict(int)
    rng = random.Random(f"{seed}:split")
    order = sorted(by_author, key=lambda a: (-sum(by_author[a].values()), rng.random(), a))
    spare = {c: len(loose.get(c, ())) for c in sizes}

    def cost(c: str, t: float) -> tuple[float, float]:
        # First what loose rows cannot fix (too many placed, or too few even with all of
        # them); then the plain distance, so whole authors fill the test side while they fit.
        left = max(t - share[c], share[c] - t - spare[c], 0.0)
        return left, abs(t - share[c])

    test_authors: set[int] = set()
    for a in order:
        vec = by_author[a]
        before = [cost(c, placed[c]) for c in vec]
        after = [cost(c, placed[c] + k) for c, k in vec.items()]
        gain = (
            sum(x[0] for x in after) - sum(x[0] for x in before),
            sum(x[1] for x in after) - sum(x[1] for x in before),
        )
        if gain[0] < -1e-9 or (abs(gain[0]) <= 1e-9 and gain[1] < -1e-9):
            test_authors.add(a)
            for c, k in vec.items():
                placed[c] += k
    for cat, positions in loose.items():
        want = max(0, min(len(positions), round(share[cat] - placed[cat])))
        for i in choose(positions, want, seed, f"split:{cat}"):
            marks[i] = TEST
    if test_authors:
        for i, author in enumerate(authors):
            if author in test_authors:
                marks[i] = TEST
    return marks
