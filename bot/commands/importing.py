"""`crowdtune import`: Dolly JSONL or Alpaca JSON, all records or none."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bot.runtime import Runtime
from store.db import session_scope
from store.enums import ExampleStatus, Origin
from store.importing import import_file


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `import` command."""
    p = sub.add_parser("import", help="import a Dolly JSONL or Alpaca JSON file")
    p.add_argument("path", type=Path)
    p.add_argument("--format", choices=["dolly", "alpaca", "auto"], default="auto")
    p.add_argument(
        "--status",
        choices=[ExampleStatus.APPROVED.value, ExampleStatus.PENDING.value],
        default=ExampleStatus.APPROVED.value,
        help="approved (default) for curated datasets, pending to send them to review",
    )
    p.add_argument(
        "--origin",
        choices=[o.value for o in Origin],
        default=Origin.IMPORTED.value,
    )
    p.add_argument("--category", help="category for every record (Alpaca has none)")
    p.set_defaults(handler=run)


class ProgressBar:
    """A one-line progress bar on a terminal's stderr; silent when not a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Redraw the bar."""
        if not self.enabled or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        sys.stderr.write(f"\r{self.label} [{bar}] {done:,}/{total:,} ({rate:,.0f}/s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Import the file in one transaction and print what was added."""
    started = time.monotonic()
    with session_scope(rt.sessions) as s:
        report = import_file(
            s,
            args.path,
            fmt=args.format,
            status=ExampleStatus(args.status),
            origin=Origin(args.origin),
            category=args.category,
            progress=ProgressBar(f"importing {args.path.name}"),
        )
    elapsed = time.monotonic() - started
    print(
        f"{report.path}: {report.format} format, {report.read:,} records read, "
        f"{report.added:,} added, {report.already_present:,} already present "
        f"({elapsed:.2f} s)"
    )
    for slug, n in sorted(report.by_category.items()):
        print(f"  {slug:<24}{n:>8,}")
    return 0
