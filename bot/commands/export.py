"""`crowdtune export`: balanced, deduplicated, split dataset files with a card and a manifest."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from exporters.spec import BALANCES, FORMATS, ExportSpec, ExportSpecError
from store.app_settings import Salt, pseudonym_salt
from store.db import make_engine, make_session_factory, session_scope
from store.enums import Origin
from store.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.config import Settings
    from bot.runtime import Runtime
    from exporters.card import ExportCounts
    from exporters.run import ExportPlan, ExportResult
    from store.progress import ProgressFn

# Smaller exports finish before a bar would be worth drawing.
EXPORT_PROGRESS_MIN_ROWS = 2_000


class _SpecParser(argparse.ArgumentParser):
    """Raises ExportSpecError instead of exiting, for specs built outside the command line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ExportSpecError(f"export options: {message}")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def add_spec_options(p: argparse.ArgumentParser) -> None:
    """The options that make an ExportSpec (shared by the command and the scheduler)."""
    p.add_argument(
        "--format",
        type=_csv,
        default=FORMATS,
        help=f"comma-separated formats: {','.join(FORMATS)} (default: all)",
    )
    p.add_argument("--balance", choices=BALANCES, default="none")
    p.add_argument("--cap", type=int, help="at most N examples per category")
    p.add_argument(
        "--temperature", type=float, default=1.0, help="T of temperature balancing (default 1)"
    )
    p.add_argument(
        "--test-size", type=float, default=0.1, help="share held out as test (default 0.1)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument(
        "--origins",
        type=_csv,
        default=tuple(o.value for o in Origin),
        help="comma-separated origins to include (default: all)",
    )
    p.add_argument("--min-reviews", type=int, default=0, help="only examples with N+ reviews")
    p.add_argument("--scrub-pii", action="store_true", help="mask personal data in the text")
    p.add_argument(
        "--keep-citations", action="store_true", help="keep Wikipedia [1] citation brackets"
    )
    p.add_argument(
        "--near-dup",
        type=float,
        default=None,
        help="ROUGE-L F1 for near-duplicates (default: CROWDTUNE_DEDUP_BLOCK); 0 turns it off",
    )
    p.add_argument(
        "--licence",
        default="proprietary",
        help="licence of the export (a Hub id such as apache-2.0, cc-by-sa-3.0; or any name)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="export although selected rows' licences conflict with --licence",
    )
    p.add_argument("--system-prompt", help="a system message on every line of openai, sharegpt")
    p.add_argument(
        "--drop-pii", action="store_true", help="leave out rows with personal data (see dropped)"
    )
    p.add_argument(
        "--allow-empty", action="store_true", help="write an export even when no row is selected"
    )
    p.add_argument(
        "--language",
        type=_csv,
        default=("en",),
        help="comma-separated language codes for the card (default en)",
    )
    p.add_argument(
        "--categories",
        type=_csv,
        default=(),
        metavar="SLUG,…",
        help="only these categories, retired ones included (default: every active category)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="only categories whose reviewers' Krippendorff alpha on verdicts is >= A",
    )
    p.add_argument(
        "--min-rating",
        type=float,
        default=None,
        help="only examples whose mean 1-5 rating is >= R (unrated ones are left out)",
    )


def resolve_salt(settings: Settings, sessions: sessionmaker[Session]) -> Salt:
    """The pseudonym salt exports use: CROWDTUNE_PSEUDONYM_SALT, else the one in the database."""
    configured = settings.pseudonym_salt.get_secret_value() if settings.pseudonym_salt else None
    with session_scope(sessions) as s:
        return pseudonym_salt(s, configured)


def spec_from_namespace(args: argparse.Namespace, settings: Settings, salt: str) -> ExportSpec:
    """An ExportSpec from parsed options, settings (the dedup threshold) and the salt."""
    near = settings.dedup_block_threshold if args.near_dup is None else args.near_dup
    return ExportSpec(
        salt=salt,
        formats=args.format,
        balance=args.balance,
        cap=args.cap,
        temperature=args.temperature,
        test_size=args.test_size,
        seed=args.seed,
        origins=args.origins,
        min_reviews=args.min_reviews,
        scrub_pii=args.scrub_pii,
        strip_citations=not args.keep_citations,
        near_dup_threshold=near if near > 0 else None,
        licence=args.licence,
        system_prompt=args.system_prompt,
        drop_pii=args.drop_pii,
        allow_empty=args.allow_empty,
        force=args.force,
        languages=args.language,
        categories=args.categories,
        min_agreement=args.min_agreement,
        min_rating=args.min_rating,
    )


def spec_from_args(argv: list[str] | str, settings: Settings, salt: str) -> ExportSpec:
    """Build a spec from option words, e.g. Settings.export_args; errors say what to fix."""
    words = shlex.split(argv) if isinstance(argv, str) else list(argv)
    parser = _SpecParser(prog="crowdtune export", add_help=False)
    add_spec_options(parser)
    return spec_from_namespace(parser.parse_args(words), settings, salt)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `export` command."""
    p = sub.add_parser("export", help="write a balanced, split dataset in training formats")
    p.add_argument("--out", type=Path, help="folder to create (must not exist)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print counts per category and split and what would be dropped; write nothing",
    )
    add_spec_options(p)
    p.set_defaults(handler=run)


def _split_table(by_split: dict[str, dict[str, int]]) -> list[str]:
    lines = [f"{'category':<24}{'train':>9}{'test':>9}"]
    for cat in sorted(set(by_split["train"]) | set(by_split["test"])):
        tr, te = by_split["train"].get(cat, 0), by_split["test"].get(cat, 0)
        lines.append(f"{cat:<24}{tr:>9,}{te:>9,}")
    return lines


def summary(result: ExportResult) -> str:
    """Plain-text summary of an export: counts per category and split, removals, files."""
    c = result.counts
    lines = [
        f"export {result.export_id}: {c.total:,} examples -> {result.out_dir}",
        *_split_table(c.by_split),
        *_conversation_line(c),
        f"removed: {c.exact_duplicates:,} exact duplicates, {c.near_duplicates:,} "
        f"near-duplicates, {c.balanced_out:,} by balancing"
        + (f", {c.pii:,} with personal data" if c.pii else "")
        + " (reasons in dropped.jsonl)",
    ]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


DROP_KINDS = {
    "origins": "origin not selected",
    "min_reviews": "below min reviews",
    "exact_duplicate": "exact duplicates",
    "balance": "left out by balancing",
    "pii": "personal data",
    "near_duplicate": "near-duplicates",
    "conversation": "conversations left out of the pair formats (dolly, alpaca)",
}


def _conversation_line(c: ExportCounts) -> list[str]:
    if not c.conversations:
        return []
    left_out = c.conversations_left_out
    left = (
        f"{max(left_out.values()):,} left out of {' and '.join(sorted(left_out))}"
        if left_out
        else ""
    )
    return [
        f"conversations: {c.conversations:,} ({c.turns:,} turns)" + (f"; {left}" if left else "")
    ]


def plan_summary(plan: ExportPlan) -> str:
    """What a dry run found: counts per category and split, drops by reason, warnings."""
    lines = [
        f"dry run: {plan.counts.total:,} examples would be exported (nothing written)",
        *_split_table(plan.counts.by_split),
        *_conversation_line(plan.counts),
    ]
    total = sum(plan.dropped.values())
    lines.append(f"would drop {total:,} row(s)" + (":" if total else ""))
    for kind, n in plan.dropped.items():
        lines.append(f"  {DROP_KINDS.get(kind, kind)}: {n:,}")
        for example_id, reason in plan.dropped_examples.get(kind, []):
            lines.append(f"    id {example_id}: {reason}")
        if n > len(plan.dropped_examples.get(kind, [])):
            lines.append("    …")
    lines += [f"warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


def export_to(
    settings: Settings,
    out: Path,
    spec: ExportSpec,
    *,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> ExportResult:
    """Run one export of DATABASE_URL into `out` (the CLI, Slack and the scheduler use it)."""
    # The writers (pyarrow, huggingface_hub, yaml) load when an export runs, not at CLI start.
    from exporters.run import run_export

    # A long read must not hold SQLite's write lock: read in a DEFERRED transaction.
    engine = make_engine(settings.database_url, sqlite_begin="DEFERRED")
    try:
        return run_export(
            make_session_factory(engine),
            out,
            spec,
            overwrite=overwrite,
            quorum=settings.quorum_approvals,
            progress=progress,
        )
    finally:
        engine.dispose()


def plan(settings: Settings, spec: ExportSpec) -> ExportPlan:
    """A dry run of one export of DATABASE_URL: what it would contain and drop."""
    from exporters.run import plan_export

    engine = make_engine(settings.database_url, sqlite_begin="DEFERRED")
    try:
        return plan_export(make_session_factory(engine), spec)
    finally:
        engine.dispose()


def slack_exporter(rt: Runtime) -> Callable[[str], str]:
    """The `/crowdtune export [options]` runner for the Slack app (bot.slack's ExportRunner).

    Writes a new UTC-stamped folder under CROWDTUNE_EXPORT_ROOT and returns the summary;
    bad options raise ExportSpecError (a DomainError) with what to fix.
    """

    def run_from_slack(options: str) -> str:
        from bot.scheduler.jobs import export_folder_name

        salt = resolve_salt(rt.settings, rt.sessions).value
        words = shlex.split(options)
        if "--dry-run" in words:
            words.remove("--dry-run")
            # `/crowdtune export --dry-run` alone previews the scheduled export's options.
            words = words or shlex.split(rt.settings.export_args)
            return plan_summary(plan(rt.settings, spec_from_args(words, rt.settings, salt)))
        spec = spec_from_args(words, rt.settings, salt)
        folder = export_folder_name(datetime.now(UTC))
        result = export_to(rt.settings, Path(rt.settings.export_root) / folder, spec)
        return summary(result)

    return run_from_slack


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Run the export and print counts per category and split, then the files."""
    from bot.progress import PhaseBars

    salt = resolve_salt(rt.settings, rt.sessions)
    spec = spec_from_namespace(args, rt.settings, salt.value)
    if args.dry_run:
        print(plan_summary(plan(rt.settings, spec)))
        return 0
    if args.out is None:
        raise DomainError("export needs --out DIR (the folder to create), or --dry-run")
    print(f"using the {salt.describe()}")
    started = time.monotonic()
    bars = PhaseBars(f"export {args.out.name}", min_total=EXPORT_PROGRESS_MIN_ROWS)
    with contextlib.closing(bars):
        result = export_to(rt.settings, args.out, spec, overwrite=args.overwrite, progress=bars)
    print(summary(result))
    for name, info in result.files.items():
        print(f"  {name}  {info['bytes']:,} bytes  sha256 {info['sha256'][:16]}…")
    print(f"({time.monotonic() - started:.2f} s)")
    return 0
