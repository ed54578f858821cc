"""Quality gates every path shares: near-duplicates, personal data, copy-paste hygiene.

The names below load with their module on first use, so that a process needing one module
(the import's scan worker, `pairs_worker`) doesn't load the database layer with the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.quality.batch import BatchDuplicate, BatchItem, scan_batch
    from store.quality.dedup import DedupIndex, NearMatch, prompt_text, rouge_l_f1, tokenize
    from store.quality.gate import (
        CITATION_BRACKETS,
        NEAR_DUPLICATE_CONFIRMED,
        PII_CONFIRMED,
        CorpusQualityGate,
    )
    from store.quality.hygiene import (
        has_citations,
        is_only_url,
        response_copies_context,
        strip_citations,
    )
    from store.quality.pii import PiiFinding, find_pii, pii_kinds, scrub_pii

# Each exported name and the module that defines it.
_HOMES = {
    "store.quality.batch": ("BatchDuplicate", "BatchItem", "scan_batch"),
    "store.quality.dedup": ("DedupIndex", "NearMatch", "prompt_text", "rouge_l_f1", "tokenize"),
    "store.quality.gate": (
        "CITATION_BRACKETS",
        "NEAR_DUPLICATE_CONFIRMED",
        "PII_CONFIRMED",
        "CorpusQualityGate",
    ),
    "store.quality.hygiene": (
        "has_citations",
        "is_only_url",
        "response_copies_context",
        "strip_citations",
    ),
    "store.quality.pii": ("PiiFinding", "find_pii", "pii_kinds", "scrub_pii"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "CITATION_BRACKETS",
    "NEAR_DUPLICATE_CONFIRMED",
    "PII_CONFIRMED",
    "BatchDuplicate",
    "BatchItem",
    "CorpusQualityGate",
    "DedupIndex",
    "NearMatch",
    "PiiFinding",
    "find_pii",
    "has_citations",
    "is_only_url",
    "pii_kinds",
    "prompt_text",
    "response_copies_context",
    "rouge_l_f1",
    "scan_batch",
    "scrub_pii",
    "strip_citations",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    """An exported name, from its module (imported on first use)."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
