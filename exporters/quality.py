"""Text hygiene and near-duplicate removal, as collaborators the export run is handed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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


def dedup_text(instruction: str, response: str) -> str:
    """The text compared for near-duplicates: instruction and response, not the shared context.

    Two questions about one reference passage are different examples; a long shared
    context would otherwise dominate the score.
    """
    return f"{instruction}\n{response}"


def default_collaborators() -> Collaborators:
    """The store's own hygiene, PII and near-duplicate rules."""
    return Collaborators()
