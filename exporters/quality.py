"""Text hygiene and near-duplicate removal, as collaborators the export run is handed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from store.quality.dedup import DedupIndex, prompt_text
from store.quality.hygiene import strip_citations
from store.quality.pii import scrub_pii

TextFn = Callable[[str], str]


class NearDupFilter(Protocol):
    """Remembers kept examples; says whether a new one nearly repeats one of them."""

    def seen(self, example_id: int, text: str, category: str) -> bool:
        """True when `text` is a near-duplicate of a kept example; else keep it and say False."""
        ...


@dataclass(frozen=True)
class Collaborators:
    """What cleans and filters text: injected so tests and notebooks can swap them."""

    strip_citations: TextFn | None = None
    scrub_pii: TextFn | None = None
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

    def seen(self, example_id: int, text: str, category: str) -> bool:
        """True when a kept row scores >= threshold against `text`; otherwise keep this one."""
        if self.index.nearest(text, k=1, threshold=self.threshold):
            return True
        self.index.add(example_id, text, category)
        return False


def default_collaborators() -> Collaborators:
    """The store's own rules: citation stripping, PII scrubbing, the ROUGE-L index."""
    return Collaborators(
        strip_citations=strip_citations, scrub_pii=scrub_pii, near_dups=IndexNearDups
    )
