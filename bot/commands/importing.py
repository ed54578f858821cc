"""`crowdtune import`: Dolly JSONL, Alpaca JSON, ShareGPT or OpenAI chat JSONL (conversations),
all records or none."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.provenance import add_provenance_options
from bot.plurals import counted
from store.choices import IMPORT_FORMATS, NEAR_DUPLICATE_MODES
from store.db import session_scope
from store.enums import ExampleStatus, Origin

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from store.importing import ImportReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `import` command."""
    p = sub.add_parser(
        "import",
        help="import a Dolly JSONL or Alpaca JSON file (pairs), or a ShareGPT or OpenAI chat "
        "JSONL file (conversations)",
    )
    p.add_argument("path", type=Path)
    p.add_argument(
        "--format",
        choices=[*IMPORT_FORMATS, "auto"],
        default="auto",
        help="auto (default) tells them apart by the first record's keys",
    )
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
    p.add_argument(
        "--category",
        help="category for every record (Alpaca, ShareGPT and OpenAI chat name none: without "
        "it, the wording of the instruction or first user turn chooses)",
    )
    p.add_argument(
        "--near-duplicates",
        choices=NEAR_DUPLICATE_MODES,
        default="report",
        help="records whose prompt scores ROUGE-L F1 >= CROWDTUNE_DEDUP_WARN against a stored "
        "example or an earlier record: report them (default), skip them, or do not check",
    )
    add_provenance_options(p)
    p.set_defaults(handler=run)


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Import the file in one transaction and print what was added."""
    from bot.progress import PhaseBars  # tqdm: loaded by the commands that draw bars
    from store.importing import import_file

    started = time.monotonic()
    bars = PhaseBars(args.path.name)
    with session_scope(rt.sessions) as s, contextlib.closing(bars):
        report = import_file(
            s,
            args.path,
            fmt=args.format,
            status=ExampleStatus(args.status),
            origin=Origin(args.origin),
            category=args.category,
            progress=bars,
            near_duplicates=args.near_duplicates,
            near_threshold=rt.settings.dedup_warn_threshold,
            source_name=args.source_name,
            licence=args.licence,
            commit=s.commit,
        )
    elapsed = time.monotonic() - started
    print(
        f"{report.path}: {report.format} format, {counted(report.read, 'record')} read, "
        f"{report.added:,} added, {report.already_present:,} already present "
        f"({elapsed:.2f} s)"
    )
    if report.conversations:
        print(
            f"  {counted(report.conversations, 'conversation')} ({counted(report.turns, 'turn')})"
        )
    for slug, n in sorted(report.by_category.items()):
        print(f"  {slug:<24}{n:>8,}")
    if args.near_duplicates != "off":
        print_near_duplicates(report, rt.settings.dedup_warn_threshold)
    return 0


NEAR_DUPLICATES_SHOWN = 10


def print_near_duplicates(report: ImportReport, threshold: float) -> None:
    """The count of near-duplicates and the first few, with where they are and their scores."""
    found = report.near_duplicates
    if not found:
        return  # nothing to say: a line counting zero near-duplicates is noise
    within = sum(1 for d in found if d.in_batch)
    what = "skipped" if report.skipped_near_duplicates else "imported anyway"
    print(
        f"{len(found):,} near-duplicate(s) at ROUGE-L F1 >= {threshold:.2f} "
        f"({within:,} within the file, {len(found) - within:,} of stored examples; {what})"
    )
    for d in found[:NEAR_DUPLICATES_SHOWN]:
        text = " ".join(d.match_text.split())
        text = text if len(text) <= 70 else text[:69] + "…"
        print(f"  {d.ref} ~ {d.match_ref} ({d.match_category}) {d.score:.2f}: {text}")
    if len(found) > NEAR_DUPLICATES_SHOWN:
        print(f"  … and {len(found) - NEAR_DUPLICATES_SHOWN:,} more")
    if found and not report.skipped_near_duplicates:
        print("  (use --near-duplicates skip to leave them out)")
