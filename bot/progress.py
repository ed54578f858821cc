"""Progress bars on the terminal (tqdm) for the `ProgressFn` callbacks of store and exporters."""

from __future__ import annotations

import io
import os
import sys
from typing import Any, TextIO

from tqdm import tqdm

DEFAULT_SIZE = (100, 24)


def _size(stream: TextIO) -> tuple[int, int]:
    # A terminal that reports no size (fresh ptys, some CI runners say 0x0) still gets a bar:
    # tqdm draws nothing at all when told the screen has 0 rows.
    try:
        size = os.get_terminal_size(stream.fileno())
        cols, rows = size.columns, size.lines
    except (OSError, ValueError, io.UnsupportedOperation):
        cols = rows = 0
    return (cols or DEFAULT_SIZE[0], rows or DEFAULT_SIZE[1])


class PhaseBars:
    """One tqdm bar per phase on stderr, each with its own rate; silent off a terminal.

    `min_total` hides bars for small jobs (an export of a few hundred rows needs none).
    """

    def __init__(
        self, label: str, *, min_total: int = 0, stream: TextIO | None = None, force: bool = False
    ) -> None:
        self.label = label
        self.min_total = min_total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or self.stream.isatty()
        self._phase: str | None = None
        self._bar: Any = None  # the tqdm bar of the current phase
        self._ended: str | None = None  # the phase whose bar reached its end last

    def __call__(self, phase: str, done: int, total: int) -> None:
        """Advance (or start) the bar of `phase`."""
        if not self.enabled or total < max(1, self.min_total):
            return
        if self._bar is None and phase == self._ended and done >= total:
            return  # the end of a phase told twice (by a step and by its caller): one bar
        if phase != self._phase or self._bar is None:
            self.close()
            self._phase = phase
            cols, rows = _size(self.stream)
            self._bar = tqdm(
                total=total,
                desc=f"{self.label}: {phase}",
                unit=" rows",
                unit_scale=False,
                file=self.stream,
                ncols=cols,
                nrows=rows,
                mininterval=0.2,
                leave=True,
                initial=done,  # a phase seen first midway: its rate counts from here
            )
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()
            self._ended = phase

    def close(self) -> None:
        """Finish the current bar (also when an error stops the work midway)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._phase = None
