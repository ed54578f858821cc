"""`python -m tests.export_probe URL OUT MARKER`: an export that stops at its first row,
touches MARKER and waits there for ever, so a test can SIGKILL it midway."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from exporters.formats import WRITERS, OutRow
from exporters.formats.jsonl import DollyWriter
from exporters.run import run_export
from store.db import make_engine, make_session_factory
from tests.export_data import spec


class StuckWriter(DollyWriter):
    """The real Dolly writer that stops for ever at its first row, after saying so."""

    marker = Path()

    def write(self, row: OutRow) -> None:
        """Write one row, then wait to be killed."""
        super().write(row)
        self.marker.touch()
        threading.Event().wait()


def main() -> None:
    """Run the stuck export into argv[2]; argv[3] appears once it is midway."""
    url, out, marker = sys.argv[1:4]
    StuckWriter.marker = Path(marker)
    factory = make_session_factory(make_engine(url, sqlite_begin="DEFERRED"))
    run_export(
        factory, Path(out), spec(formats=("dolly",)), writers={**WRITERS, "dolly": StuckWriter}
    )


if __name__ == "__main__":
    main()
