"""`crowdtune transform`: QA, summarization or translation rows into instruction pairs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.provenance import add_provenance_options
from generators.transform_templates import FORMATS, PHRASINGS, TASKS
from store.db import session_scope
from store.enums import ExampleStatus
from store.errors import DomainError

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `transform` command."""
    p = sub.add_parser("transform", help="turn a QA/summarization/translation dataset into pairs")
    p.add_argument("path")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--category", help="category of every pair (default per task)")
    p.add_argument("--seed", type=int, default=0, help="chooses each row's phrasing")
    p.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=PATH",
        help="read ROLE (context, question, answer, document, summary, source, target) from "
        "the column at PATH; nested: answers.text[0], translation.de",
    )
    p.add_argument("--format", choices=[*FORMATS, "auto"], default="auto")
    p.add_argument("--source-lang", help="translation: language of the source column")
    p.add_argument("--target-lang", help="translation: language of the target column")
    p.add_argument(
        "--status",
        choices=[ExampleStatus.PENDING.value, ExampleStatus.APPROVED.value],
        default=ExampleStatus.PENDING.value,
    )
    add_provenance_options(p)
    p.set_defaults(handler=run)


def _columns(specs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        role, sep, name = spec.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise DomainError(f"--column {spec!r}: write ROLE=PATH, e.g. --column question=query")
        out[role.strip()] = name.strip()
    return out


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Transform the whole file in one transaction and print what was added."""
    # The readers (pyarrow for Parquet) and store.importing's checks load only when it runs.
    from generators.transforms import transform_file

    with session_scope(rt.sessions) as s:
        report = transform_file(
            s,
            Path(args.path),
            task=args.task,
            category=args.category,
            seed=args.seed,
            columns=_columns(args.column),
            fmt=args.format,
            source_lang=args.source_lang,
            target_lang=args.target_lang,
            status=ExampleStatus(args.status),
            source_name=args.source_name,
            licence=args.licence,
        )
    print(
        f"{report.path}: {report.task} ({report.format}) → {report.category}: "
        f"{report.read:,} rows read, {report.added:,} added, "
        f"{report.already_present:,} already present"
        + (f", {report.no_value:,} without a value (skipped)" if report.no_value else "")
    )
    templates = PHRASINGS[report.task]
    for choice, n in sorted(report.phrasings.items()):
        print(f"  {n:>6,} × {templates[choice]}")
    return 0
