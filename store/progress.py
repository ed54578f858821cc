"""Progress reporting that long operations (imports, exports) call; the CLI draws it.

A `ProgressFn` is called as `progress(phase, done, total)`: `phase` names the step
("reading", "near-duplicates", "writing", …), `done` of `total` units are finished. Each
phase starts at 0 and ends with done == total, so a bar per phase shows that phase's rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
ProgressFn = Callable[[str, int, int], None]
# Calls per phase at most (plus the last one): drawing is cheap, calling per row is not.
_UPDATES = 200


def track(items: Iterable[T], progress: ProgressFn | None, phase: str, total: int) -> Iterator[T]:
    """Yield `items`, telling `progress` how many of `total` went by (about 200 calls)."""
    if progress is None:
        yield from items
        return
    step = max(1, total // _UPDATES)
    progress(phase, 0, total)
    for done, item in enumerate(items, start=1):
        yield item
        if done % step == 0 and done < total:
            progress(phase, done, total)
    progress(phase, total, total)
