"""Diversity of a set of examples: distinct-n, nearest-neighbour ROUGE-L, openings, lengths."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from store.quality.dedup import DedupIndex, prompt_text, tokenize

TOP_OPENINGS = 5
PERCENTILES = (10, 50, 90)
# Neighbours are searched at or above this ROUGE-L F1; a prompt with none counts as 0
# ("unrelated"). Searching lower scores every text of the corpus for every query.
NEAREST_FLOOR = 0.5


@dataclass(frozen=True)
class Text:
    """The parts of one example the diversity figures read."""

    example_id: int
    instruction: str
    context: str
    response: str


@dataclass
class Diversity:
    """Diversity figures of one set of examples (`n` of them)."""

    n: int
    distinct_1: float | None  # over the first `distinct_size` texts (size biases distinct-n)
    distinct_2: float | None
    nearest_rouge_l: float | None  # mean ROUGE-L F1 to the nearest other prompt (0 below floor)
    near_share: float | None  # share of prompts with a neighbour at or above NEAREST_FLOOR
    openings: list[tuple[str, float]] = field(default_factory=list)  # top first-two-words
    top_openings_share: float | None = None  # share of the examples opening with those
    instruction_words: dict[str, float] = field(default_factory=dict)  # p10, p50, p90
    response_words: dict[str, float] = field(default_factory=dict)
    distinct_size: int = 0


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float | None:
    """Distinct n-grams / all n-grams over the texts (n-grams never cross two texts)."""
    grams: set[tuple[str, ...]] = set()
    total = 0
    for tokens in token_lists:
        for i in range(len(tokens) - n + 1):
            grams.add(tuple(tokens[i : i + n]))
            total += 1
    return len(grams) / total if total else None


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    got = np.percentile(np.asarray(values, dtype=float), PERCENTILES)
    return {f"p{p}": float(v) for p, v in zip(PERCENTILES, got, strict=True)}


def opening(instruction: str) -> str:
    """The first two words of an instruction, lowercased (one word if that is all)."""
    return " ".join(tokenize(instruction)[:2])


def diversity_of(
    texts: Sequence[Text], index: DedupIndex | None, *, distinct_size: int | None = None
) -> Diversity:
    """The figures for these texts; nearest neighbours come from `index` (None: skipped).

    Distinct-n falls as a sample grows, so sets are compared on the same number of texts:
    the first `distinct_size` (default all) of `texts`, which should be in random order.
    """
    if not texts:
        return Diversity(0, None, None, None, None)
    ins_tokens = [tokenize(t.instruction) for t in texts]
    resp_tokens = [tokenize(t.response) for t in texts]
    k = len(texts) if distinct_size is None else max(1, min(distinct_size, len(texts)))
    token_lists = ins_tokens[:k] + resp_tokens[:k]
    nearest: float | None = None
    near: float | None = None
    if index is not None:
        scores = []
        for t in texts:
            hits = index.nearest(
                prompt_text(t.instruction, t.context),
                k=1,
                threshold=NEAREST_FLOOR,
                exclude_id=t.example_id,
            )
            scores.append(hits[0].score if hits else 0.0)
        nearest = sum(scores) / len(scores)
        near = sum(1 for x in scores if x > 0) / len(scores)
    counts = Counter(opening(t.instruction) for t in texts)
    top = counts.most_common(TOP_OPENINGS)
    return Diversity(
        n=len(texts),
        distinct_1=distinct_n(token_lists, 1),
        distinct_2=distinct_n(token_lists, 2),
        nearest_rouge_l=nearest,
        near_share=near,
        openings=[(o, c / len(texts)) for o, c in top],
        top_openings_share=sum(c for _, c in top) / len(texts),
        instruction_words=_percentiles([len(t) for t in ins_tokens]),
        response_words=_percentiles([len(t) for t in resp_tokens]),
        distinct_size=k,
    )
