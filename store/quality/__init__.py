"""Quality gates every path shares: near-duplicates, personal data, copy-paste hygiene."""

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
