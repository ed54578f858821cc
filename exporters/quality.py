"""Text hygiene and near-duplicate removal, as collaborators the export run is handed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from store.quality.dedup import DedupIndex, prompt_text
from store.quality.hygiene import strip_citations
from store.quality.pii import pii_kinds, scrub_pii

TextFn = Callable[[str], str]


class NearDupFilter(Protocol):
    """Remembers kept examples; says which kept one (and how closely) a new one repeats."""

    def match(self, example_id: int, text: str, category: str) -> tuple[int, float] | None:
        """(kept id, score) when `text` nearly repeats a kept example; else keep it, None."""
        ...


@dataclass(frozen=True)
class Collaborators:
    """What cleans and filters text: injected so tests and notebooks can swap them."""

    strip_citations: TextFn | None = None
    scrub_pii: TextFn | None = None
    # The kinds of personal data in a text (empty: none), for --drop-pii.
    pii_kinds: Callable[[str], list[str]] | None = None
    # Builds a fresh filter for one run from the spec's ROUGE-L threshold.
    near_dups: Callable[[float], NearDupFilter] | None = None


def dedup_text(instruction: str, context: str) -> str:
    """The text compared for near-duplicates: the store's rule (instruction, then context)."""
    return prompt_text(instruction, context)


class IndexNearDups:
    """Near-duplicate filter over the store's ROUGE-L index, holding only the kept rows.

    Each query is pruned by the index's rare-token postings and length bounds, so the cost
    follows the rows that survive balancing, not the whole corpus.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.index = DedupIndex()

    def match(self, example_id: int, text: str, category: str) -> tuple[int, float] | None:
        """The best kept row scoring >= threshold against `text`; otherwise keep this one."""
        hits = self.index.nearest(text, k=1, threshold=self.threshold)
        if hits:
            return hits[0].example_id, hits[0].score
        self.index.add(example_id, text, category)
        return None


def default_collaborators() -> Collaborators:
    """The store's own rules: citation stripping, PII scrubbing, the ROUGE-L index."""
    return Collaborators(
        strip_citations=strip_citations,
        scrub_pii=scrub_pii,
        pii_kinds=pii_kinds,
        near_dups=IndexNearDups,
    )
