"""Near-duplicates in a batch of new texts (an import file, a set of drafts), within the batch
and against the stored corpus, in one pass over one index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from store.quality.dedup import DedupIndex


@dataclass(frozen=True)
class BatchItem:
    """A text of the batch: `ref` says where it is (e.g. "line 17")."""

    ref: str
    text: str
    category_slug: str


@dataclass(frozen=True)
class BatchDuplicate:
    """A batch item whose nearest earlier text (stored, or earlier in the batch) is too close."""

    ref: str
    score: float
    # "line 3" for an earlier item of the batch, "example #42" for a stored example.
    match_ref: str
    match_category: str
    match_text: str
    in_batch: bool


def scan_batch(
    index: DedupIndex,
    items: Sequence[BatchItem],
    *,
    threshold: float = 0.7,
    keep_duplicates: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[BatchDuplicate]:
    """Each item's best match >= threshold among the index and the items before it.

    Items are added to `index` as they are scanned (with negative ids, so pass an index built
    for this batch): with `keep_duplicates` False a duplicate is left out of the index, as it
    will be left out of the import, and later items are compared with what is kept.
    `progress(done, total)` is told how far the scan is.
    """
    found: list[BatchDuplicate] = []
    total = len(items)
    step = max(1, total // 200)  # about 200 progress calls, whatever the batch size
    for position, item in enumerate(items):
        if progress is not None and position % step == 0:
            progress(position, total)
        hits = index.nearest_then_add(
            -(position + 1),
            item.text,
            item.category_slug,
            threshold=threshold,
            add_near_duplicates=keep_duplicates,
        )
        if hits:
            hit = hits[0]
            in_batch = hit.example_id < 0
            match_ref = items[-hit.example_id - 1].ref if in_batch else f"example #{hit.example_id}"
            found.append(
                BatchDuplicate(
                    item.ref, hit.score, match_ref, hit.category_slug, hit.text, in_batch
                )
            )
    if progress is not None:
        progress(total, total)
    return found
