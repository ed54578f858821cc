"""Balancing: how many examples each category keeps, and which ones (deterministic per seed)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence


def cap_counts(available: Mapping[str, int], cap: int) -> dict[str, int]:
    """Keep at most `cap` examples per category."""
    return {c: min(n, cap) for c, n in available.items()}


def quota_counts(available: Mapping[str, int], targets: Mapping[str, int]) -> dict[str, int]:
    """Keep at most each category's target; a category without a target (0) keeps nothing."""
    return {c: min(n, max(targets.get(c, 0), 0)) for c, n in available.items()}


def temperature_weights(available: Mapping[str, int], temperature: float) -> dict[str, float]:
    """p_c ∝ n_c^(1/T) over the categories that have examples."""
    raw = {c: n ** (1.0 / temperature) for c, n in available.items() if n > 0}
    total = sum(raw.values())
    return {c: w / total for c, w in raw.items()}


def temperature_counts(available: Mapping[str, int], temperature: float) -> dict[str, int]:
    """Counts whose category shares follow p_c ∝ n_c^(1/T), without repeating any example.

    The total is the largest M with p_c·M <= n_c for every c (the category the mix asks
    most of relative to its size is used whole); counts are p_c·M rounded by largest
    remainder, so each is within one of its share. T=1 keeps everything; large T tends to
    equal counts.
    """
    weights = temperature_weights(available, temperature)
    counts = dict.fromkeys(available, 0)
    if not weights:
        return counts
    total = math.floor(min(available[c] / p for c, p in weights.items()) + 1e-9)
    exact = {c: p * total for c, p in weights.items()}
    for c, x in exact.items():
        counts[c] = min(math.floor(x + 1e-9), available[c])
    left = total - sum(counts.values())
    by_remainder = sorted(exact, key=lambda c: (-(exact[c] - counts[c]), c))
    for c in by_remainder:
        if left <= 0:
            break
        if counts[c] < available[c]:
            counts[c] += 1
            left -= 1
    return counts


def allocate(
    strategy: str,
    available: Mapping[str, int],
    *,
    cap: int | None = None,
    targets: Mapping[str, int] | None = None,
    temperature: float = 1.0,
) -> dict[str, int]:
    """How many examples each category keeps under `strategy` (none|cap|quota|temperature)."""
    if strategy == "none":
        counts = dict(available)
    elif strategy == "cap":
        if cap is None:
            raise ValueError("the cap strategy needs a cap")
        counts = cap_counts(available, cap)
    elif strategy == "quota":
        counts = quota_counts(available, targets or {})
    elif strategy == "temperature":
        counts = temperature_counts(available, temperature)
    else:
        raise ValueError(f"unknown balance strategy {strategy!r}")
    if strategy != "cap" and cap is not None:
        # A cap given alongside another strategy still bounds every category.
        counts = cap_counts(counts, cap)
    return counts


def choose(positions: Sequence[int], k: int, seed: int, category: str) -> list[int]:
    """`k` of `positions`, in their order; the same seed and category always choose the same."""
    if k >= len(positions):
        return list(positions)
    # A string seed hashes the same in every process (unlike hash() of a str).
    rng = random.Random(f"{seed}:{category}")
    picked = sorted(rng.sample(range(len(positions)), k))
    return [positions[i] for i in picked]
