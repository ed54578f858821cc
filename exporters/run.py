"""One export run: read, deduplicate, balance, split, write every format, record the Export."""

from __future__ import annotations

import json
import logging
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from exporters.atomic import atomic_folder, remove_leftovers, sweep_leftovers, target_lock
from exporters.balance import allocate, choose
from exporters.card import (
    DROPPED,
    SPLITS,
    CardFacts,
    ExportCounts,
    describe_files,
    loadable_layout,
    write_card,
    write_manifest,
)
from exporters.card_origins import origin_table
from exporters.formats import WRITERS, FormatOptions, OutRow, Writer
from exporters.formats.base import single_exchange
from exporters.licences import LicenceCheck, check_licences
from exporters.pseudonym import pseudonym
from exporters.quality import Collaborators, dedup_text, default_collaborators
from exporters.spec import ExportSpec
from exporters.split import NO_AUTHOR, TEST, assign_split
from store.db import session_scope
from store.enums import Origin, RunStatus
from store.errors import Conflict, DomainError
from store.export_queries import (
    ExportFilter,
    ExportRow,
    Provenance,
    begin_snapshot,
    category_table,
    conversation_ids,
    database_marker,
    duplicate_ids,
    export_category_ids,
    filter_counts,
    iter_excluded,
    iter_keys,
    iter_rows,
    provenance,
    roles_by_example,
)
from store.export_runs import (
    export_heartbeat,
    fail_running_exports_to,
    fail_stale_exports,
    recent_out_dirs,
)
from store.models import Export
from store.progress import ProgressFn, track
from store.report import categories_meeting, origin_mix
from store.types import utcnow

log = logging.getLogger(__name__)


class EmptyExport(DomainError):
    """The options select no row; the message names the filter that removed everything."""

    code = "export_empty"


class LicenceConflict(DomainError):
    """Selected rows carry a licence that the export's --licence cannot carry."""

    code = "export_licence_conflict"


@dataclass
class ExportResult:
    """What an export wrote and where; `files` maps relative paths to sha256, bytes, rows."""

    export_id: int
    out_dir: Path
    counts: ExportCounts
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExportPlan:
    """What an export would write (a dry run): counts, drops by reason, licence warnings."""

    counts: ExportCounts
    dropped: dict[str, int]  # reason kind -> rows
    dropped_examples: dict[str, list[tuple[int, str]]]  # kind -> first (id, reason)
    warnings: list[str] = field(default_factory=list)


DROP_EXAMPLES = 5


class DropLog:
    """Why each left-out row is left out: `dropped.jsonl` lines, and counts per kind."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[tuple[int, str]]] = {}

    def add(
        self, kind: str, example_id: int, reason: str, formats: Sequence[str] | None = None
    ) -> None:
        """Record one left-out row: its kind of reason (for counts) and the reason in words;
        `formats` when it is left out of those formats only (the others hold it)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        first = self.examples.setdefault(kind, [])
        if len(first) < DROP_EXAMPLES:
            first.append((example_id, reason))
        if self.out is not None:
            line: dict[str, Any] = {"id": example_id, "reason": reason}
            if formats is not None:
                line["formats"] = list(formats)
            self.out.write(json.dumps(line) + "\n")


def crowdtune_version() -> str:
    """The installed crowdtune version (manifest.json records it)."""
    try:
        return version("crowdtune")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@dataclass
class _Selection:
    # Parallel arrays, ascending by id: compact (24 bytes an example) and free of text.
    ids: array[int] = field(default_factory=lambda: array("q"))
    cats: array[int] = field(default_factory=lambda: array("q"))
    authors: array[int] = field(default_factory=lambda: array("q"))
    # The ids of the conversations among them (usually few, so a set beside the arrays).
    conversations: set[int] = field(default_factory=set)

    def keep(self, positions: list[int]) -> _Selection:
        out = _Selection()
        for p in positions:
            example_id = self.ids[p]
            out.ids.append(example_id)
            out.cats.append(self.cats[p])
            out.authors.append(self.authors[p])
            if self.conversations and example_id in self.conversations:
                out.conversations.add(example_id)
        return out

    def by_category(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = defaultdict(list)
        for p, c in enumerate(self.cats):
            groups[c].append(p)
        return groups


# A running export says it is alive this often; a `running` row silent for STALE_AFTER was
# interrupted (SIGKILL, power loss): the same idea as job_runs' heartbeat.
HEARTBEAT_SECONDS = 20.0
STALE_AFTER = timedelta(minutes=2)


@contextmanager
def _heartbeat(
    factory: sessionmaker[Session], export_id: int, every: float = HEARTBEAT_SECONDS
) -> Iterator[None]:
    """Move the Export row's heartbeat every `every` seconds while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with session_scope(factory) as s:
                    export_heartbeat(s, export_id, now=utcnow())
            except Exception as exc:  # a missed beat is not worth stopping the export
                log.warning("export %s: heartbeat not recorded: %s", export_id, exc)

    thread = threading.Thread(target=beat, name=f"export-{export_id}-heartbeat", daemon=True)
    with session_scope(factory) as s:
        export_heartbeat(s, export_id, now=utcnow())
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _clean_up_interrupted(factory: sessionmaker[Session], out_dir: Path) -> None:
    """Before an export into `out_dir` (its lock held): leftovers of killed runs go."""
    for path in remove_leftovers(out_dir):
        log.warning("removed %s, left by an interrupted export", path)
    with session_scope(factory) as s:
        now = utcnow()
        for row in fail_running_exports_to(s, str(out_dir), now=now) + fail_stale_exports(
            s, STALE_AFTER, now=now
        ):
            log.warning("export %s marked failed: %s", row.id, row.error)


def sweep_interrupted_exports(
    factory: sessionmaker[Session], stale_after: timedelta = STALE_AFTER
) -> dict[str, int]:
    """The scheduler's sweep: stale `running` exports become failed, and leftover temporary
    folders beside recent export folders nobody is writing are removed."""
    now = utcnow()
    with session_scope(factory) as s:
        failed = fail_stale_exports(s, stale_after, now=now)
        folders = recent_out_dirs(s, since=now - timedelta(days=7))
    for row in failed:
        log.warning("export %s marked failed: %s", row.id, row.error)
    removed = [p for folder in folders for p in sweep_leftovers(Path(folder))]
    for path in removed:
        log.warning("removed %s, left by an interrupted export", path)
    return {"failed": len(failed), "removed": len(removed)}


def _advance(ids: array[int], p: int, example_id: int) -> int:
    # Rows come back in the same ascending id order as `ids`; walk instead of a 1M-entry dict.
    while ids[p] != example_id:
        p += 1
    return p


def _start(factory: sessionmaker[Session], out_dir: Path, spec: ExportSpec) -> int:
    with session_scope(factory) as s:
        row = Export(status=RunStatus.RUNNING, out_dir=str(out_dir), spec=spec.manifest())
        s.add(row)
        s.flush()
        return row.id


def _finish(
    factory: sessionmaker[Session],
    export_id: int,
    status: RunStatus,
    *,
    counts: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    with session_scope(factory) as s:
        row = s.get(Export, export_id)
        if row is None:  # deleted while running: nothing left to record
            return
        row.status = status
        row.counts = counts or {}
        row.files = files or {}
        row.error = error
        row.finished_at = utcnow()


class _Run:
    """The steps of one export over one read snapshot."""

    def __init__(
        self,
        session: Session,
        spec: ExportSpec,
        collaborators: Collaborators,
        writers: Mapping[str, type[Writer]],
        drops: DropLog,
        progress: ProgressFn | None = None,
    ) -> None:
        self.s = session
        self.drops = drops
        self.progress = progress
        self.spec = spec
        self.co = collaborators
        self.writers = writers
        self.counts = ExportCounts()
        self.cats = category_table(session)
        self.flt = ExportFilter(
            origins=tuple(Origin(o) for o in spec.origins),
            min_reviews=spec.min_reviews,
            category_ids=self._selected_categories(spec),
            min_rating=spec.min_rating,
        )
        # Category slug -> guideline versions the exported rows were written under.
        self.guidelines: dict[str, set[int]] = defaultdict(set)
        self._pseudonyms: dict[tuple[str, str], str | None] = {}

    def _selected_categories(self, spec: ExportSpec) -> tuple[int, ...] | None:
        # The categories asked for (every active one by default), less those below
        # --min-agreement; None when nothing is left out.
        chosen = export_category_ids(self.s, spec.categories)
        agreeing = self._agreeing_categories()
        if chosen is None or agreeing is None:
            return agreeing if chosen is None else chosen
        keep = set(agreeing)
        return tuple(c for c in chosen if c in keep)

    def _agreeing_categories(self) -> tuple[int, ...] | None:
        if self.spec.min_agreement is None:
            return None
        meeting = categories_meeting(self.s, self.spec.min_agreement)
        return tuple(cid for cid, (slug, _) in self.cats.items() if slug in meeting)

    def slug(self, category_id: int) -> str:
        return self.cats[category_id][0]

    def log_filtered(self) -> None:
        origins = ",".join(self.spec.origins)
        for example_id, origin, reviews in iter_excluded(self.s, self.flt):
            if origin not in self.spec.origins:
                kind = "origins"
                reason = f"origin {origin} not selected (--origins {origins})"
            else:
                kind = "min_reviews"
                reason = f"below min reviews ({reviews} of {self.spec.min_reviews})"
            self.counts.filtered[kind] = self.counts.filtered.get(kind, 0) + 1
            self.drops.add(kind, example_id, reason)

    def read_keys(self) -> _Selection:
        sel = _Selection()
        dups = duplicate_ids(self.s, self.flt)
        ids, cats, authors = sel.ids.append, sel.cats.append, sel.authors.append
        for example_id, category_id, author_id in iter_keys(self.s, self.flt):
            kept = dups.get(example_id)
            if kept is not None:
                self.counts.exact_duplicates += 1
                self.drops.add("exact_duplicate", example_id, f"exact duplicate of id {kept}")
                continue
            ids(example_id)
            cats(category_id)
            authors(NO_AUTHOR if author_id is None else author_id)
        # Every eligible id but the duplicates is in the selection now.
        sel.conversations = conversation_ids(self.s, self.flt).difference(dups)
        return sel

    def count_conversations(self, sel: _Selection) -> None:
        """Count the selected conversations and their turns, and log each one that the pair
        formats (Dolly, Alpaca) leave out: every one but a single exchange."""
        ids = sorted(sel.conversations)
        roles = roles_by_example(self.s, ids) if ids else {}
        self.counts.conversations = len(ids)
        self.counts.turns = sum(len(r) for r in roles.values())
        pair_formats = [f for f in self.spec.formats if not self.writers[f].holds_conversations]
        if not pair_formats:
            return
        names = " and ".join(pair_formats) + (" hold" if len(pair_formats) > 1 else " holds")
        left_out = self.counts.conversations_left_out
        for example_id in ids:
            turns = roles.get(example_id, ())
            if single_exchange(turns):
                continue
            for fmt in pair_formats:
                left_out[fmt] = left_out.get(fmt, 0) + 1
            system = " with a system turn" if turns and turns[0] == "system" else ""
            reason = f"a conversation of {len(turns)} turns{system}: {names} single-turn pairs only"
            self.drops.add("conversation", example_id, reason, pair_formats)

    def balance(self, sel: _Selection) -> _Selection:
        groups = sel.by_category()
        available = {self.slug(c): len(p) for c, p in groups.items()}
        self.counts.available = available
        targets = {slug: target for slug, target in self.cats.values()}
        want = allocate(
            self.spec.balance,
            available,
            cap=self.spec.cap,
            targets=targets,
            temperature=self.spec.temperature,
        )
        kept: list[int] = []
        for c, positions in groups.items():
            slug = self.slug(c)
            chosen = choose(positions, want[slug], self.spec.seed, slug)
            kept.extend(chosen)
            if len(chosen) < len(positions):
                reason = self._balance_reason(slug, want[slug])
                left = set(positions).difference(chosen)
                for p in sorted(left):
                    self.drops.add("balance", sel.ids[p], reason)
        kept.sort()
        self.counts.balanced_out = len(sel.ids) - len(kept)
        return sel.keep(kept)

    def _balance_reason(self, slug: str, kept: int) -> str:
        b = self.spec.balance
        if b == "cap" or (self.spec.cap is not None and kept == self.spec.cap):
            return f"over the category cap ({kept:,} kept for {slug})"
        if b == "quota":
            return f"over the category's target ({kept:,} kept for {slug})"
        return f"over the category's temperature share ({kept:,} kept for {slug})"

    def clean(self, text: str) -> str:
        if self.spec.strip_citations and self.co.strip_citations is not None:
            text = self.co.strip_citations(text)
        if self.spec.scrub_pii and self.co.scrub_pii is not None:
            text = self.co.scrub_pii(text)
        return text

    def screen(self, sel: _Selection) -> _Selection:
        """Leave out rows with personal data (--drop-pii) and near-duplicates of kept rows."""
        threshold = self.spec.near_dup_threshold
        index = None
        if threshold is not None and self.co.near_dups is not None:
            index = self.co.near_dups(threshold)
        find_pii = self.co.pii_kinds if self.spec.drop_pii else None
        if (index is None and find_pii is None) or not sel.ids:
            return sel
        kept: list[int] = []
        p = 0
        rows = iter_rows(self.s, sel.ids)
        for row in track(rows, self.progress, "near-duplicates", len(sel.ids)):
            p = _advance(sel.ids, p, row.id)
            if find_pii is not None:
                # Every turn of a conversation (its system turn is in neither side).
                texts = [t for _, t in row.turns] or [row.instruction, row.context, row.response]
                kinds = find_pii("\n".join(texts))
                if kinds:
                    self.counts.pii += 1
                    self.drops.add("pii", row.id, f"PII: {', '.join(kinds)}")
                    continue
            if index is not None:
                text = dedup_text(self.clean(row.instruction), self.clean(row.context))
                hit = index.match(row.id, text, row.category)
                if hit is not None:
                    self.counts.near_duplicates += 1
                    reason = f"near-duplicate of id {hit[0]} at score {hit[1]:.2f}"
                    self.drops.add("near_duplicate", row.id, reason)
                    continue
            kept.append(p)
        return sel.keep(kept)

    def empty_reason(self) -> str:
        """Which filter left nothing, in the order they apply, and what to change."""
        f = filter_counts(self.s, self.flt)
        hint = "; pass --allow-empty to write an empty export anyway"
        if f.approved == 0:
            return (
                "nothing to export: the database has no approved examples yet (people write "
                "and review them in Slack, or load some with `crowdtune import`)" + hint
            )
        if f.of_origins == 0:
            return (
                f"nothing to export: --origins {','.join(self.spec.origins)} removed all "
                f"{f.approved:,} approved examples" + hint
            )
        if f.with_reviews == 0:
            return (
                f"nothing to export: --min-reviews {self.spec.min_reviews} removed all "
                f"{f.of_origins:,} approved examples of the chosen origins" + hint
            )
        if f.eligible == 0:
            named = ",".join(self.spec.categories) or "every active category (the default)"
            return (
                f"nothing to export: the category and quality filters (--categories {named}; "
                f"--min-agreement, --min-rating when given) removed all {f.with_reviews:,} "
                "approved examples left" + hint
            )
        if self.counts.pii and not self.counts.balanced_out:
            return f"nothing to export: --drop-pii removed all {self.counts.pii:,} rows" + hint
        why = " (every category's target is 0: see `crowdtune categories`)"
        return (
            f"nothing to export: --balance {self.spec.balance} removed all "
            f"{sum(self.counts.available.values()):,} eligible examples"
            + (why if self.spec.balance == "quota" else "")
            + hint
        )

    def select(self) -> tuple[_Selection, bytearray, Provenance, LicenceCheck]:
        """Filter, deduplicate, balance, screen and split; check licences and emptiness."""
        self.log_filtered()
        sel = self.read_keys()
        log.info("export: %d eligible examples", len(sel.ids))
        sel = self.balance(sel)
        sel = self.screen(sel)
        if not sel.ids and not self.spec.allow_empty:
            raise EmptyExport(self.empty_reason())
        self.count_conversations(sel)
        slugs = [self.slug(c) for c in sel.cats]
        marks = assign_split(slugs, sel.authors, self.spec.test_size, self.spec.seed)
        for slug, mark in zip(slugs, marks, strict=True):
            split = self.counts.by_split[SPLITS[1] if mark == TEST else SPLITS[0]]
            split[slug] = split.get(slug, 0) + 1
        prov = provenance(self.s, sel.ids)
        self.counts.origins = dict(prov.origins)
        check = check_licences(prov.licences, self.spec.licence)
        if check.conflicts and not self.spec.force:
            rows = ", ".join(f"{n:,} under {t}" for t, n in sorted(check.conflicts.items()))
            raise LicenceConflict(
                f"the selection includes rows whose licence does not allow release under "
                f"{self.spec.licence} ({rows}); leave them out with --origins, choose a "
                "compatible --licence, or pass --force if you have the right to do so"
            )
        return sel, marks, prov, check

    def out_row(self, row: ExportRow) -> OutRow:
        who: str | None = None
        if row.team_id and row.user_id:
            k = (row.team_id, row.user_id)
            if k not in self._pseudonyms:
                self._pseudonyms[k] = pseudonym(self.spec.salt, *k)
            who = self._pseudonyms[k]
        return OutRow(
            id=row.id,
            category=row.category,
            origin=row.origin,
            contributor=who,
            instruction=self.clean(row.instruction),
            context=self.clean(row.context),
            response=self.clean(row.response),
            kind=row.kind,
            turns=tuple((role, self.clean(text)) for role, text in row.turns),
        )

    def splits(self) -> tuple[str, ...]:
        """The splits that get files: train always, test only when it holds rows."""
        return tuple(s for s in SPLITS if s == SPLITS[0] or self.counts.by_split[s])

    def write(
        self, sel: _Selection, marks: bytearray, root: Path
    ) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
        """Write every format; (rows per file, format -> split -> data file for the card)."""
        splits = self.splits()
        opened: dict[str, list[Writer]] = {s: [] for s in splits}
        rows: dict[str, int] = {}
        layout: dict[str, dict[str, str]] = {}
        options = FormatOptions(system_prompt=self.spec.system_prompt)
        try:
            for fmt in self.spec.formats:
                cls = self.writers[fmt]
                (root / fmt).mkdir()
                for split in splits:
                    w = cls(root / fmt / f"{split}.{cls.extension}", options)
                    opened[split].append(w)
                    layout.setdefault(fmt, {})[split] = w.path.relative_to(root).as_posix()
            p = 0
            rows_in = iter_rows(self.s, sel.ids)
            for row in track(rows_in, self.progress, "writing", len(sel.ids)):
                p = _advance(sel.ids, p, row.id)
                split = SPLITS[1] if marks[p] == TEST else SPLITS[0]
                out = self.out_row(row)
                fits_pairs = out.is_pair
                for w in opened[split]:
                    # The pair formats skip conversations (counted and logged in select).
                    if fits_pairs or w.holds_conversations:
                        w.write(out)
                if row.guideline_version is not None:
                    self.guidelines[row.category].add(row.guideline_version)
        finally:
            for ws in opened.values():
                for w in ws:
                    w.close()
        for ws in opened.values():
            for w in ws:
                for path, n in w.outputs().items():
                    rows[path.relative_to(root).as_posix()] = n
        return rows, loadable_layout(layout, rows)


def run_export(
    session_factory: sessionmaker[Session],
    out_dir: Path,
    spec: ExportSpec,
    *,
    overwrite: bool = False,
    collaborators: Collaborators | None = None,
    writers: Mapping[str, type[Writer]] = WRITERS,
    clock: Callable[[], float] = time.monotonic,
    quorum: int | None = None,
    progress: ProgressFn | None = None,
) -> ExportResult:
    """Export approved examples to `out_dir` per `spec`, recording an Export row.

    `progress` (store.progress.ProgressFn) hears how far the near-duplicate and write passes are.

    Reads one consistent snapshot in a single transaction; on any failure the Export row is
    marked failed with the error and nothing is left at `out_dir`. `quorum` (the approvals
    that approve an example) is only described in the card.
    """
    out_dir = Path(out_dir).absolute()
    # One export per folder at a time: a second one fails at once, saying so.
    with target_lock(out_dir):
        _clean_up_interrupted(session_factory, out_dir)
        return _run_locked(
            session_factory,
            out_dir,
            spec,
            overwrite,
            collaborators,
            writers,
            clock,
            quorum,
            progress,
        )


def _run_locked(
    session_factory: sessionmaker[Session],
    out_dir: Path,
    spec: ExportSpec,
    overwrite: bool,
    collaborators: Collaborators | None,
    writers: Mapping[str, type[Writer]],
    clock: Callable[[], float],
    quorum: int | None,
    progress: ProgressFn | None = None,
) -> ExportResult:
    started = clock()
    co = collaborators if collaborators is not None else default_collaborators()
    if out_dir.exists() and not overwrite:
        raise Conflict(f"{out_dir} already exists; choose another --out or pass --overwrite")
    export_id = _start(session_factory, out_dir, spec)
    try:
        with (
            _heartbeat(session_factory, export_id),
            atomic_folder(out_dir, overwrite=overwrite) as tmp,
            session_scope(session_factory) as s,
            (tmp / DROPPED).open("w", encoding="utf-8") as dropped,
        ):
            begin_snapshot(s)
            run = _Run(s, spec, co, writers, DropLog(dropped), progress)
            sel, marks, prov, check = run.select()
            for warning in check.warnings():
                log.warning("export %s: %s", export_id, warning)
            rows, layout = run.write(sel, marks, tmp)
            dropped.close()
            rows[DROPPED] = sum(run.drops.counts.values())
            versions = {c: sorted(v) for c, v in sorted(run.guidelines.items())}
            facts = CardFacts(
                prov,
                quorum,
                origin_lines=origin_table(origin_mix(s, sel.ids)),
                guideline_versions=versions,
            )
            write_card(tmp, out_dir.name, spec, run.counts, layout, sorted(rows), facts)
            files = describe_files(tmp, rows)
            extra = {
                "name": out_dir.name,
                "export_id": export_id,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "crowdtune_version": crowdtune_version(),
                "database": database_marker(s),
                "licence_warnings": check.warnings(),
                "guideline_versions": versions,
            }
            write_manifest(tmp, spec, run.counts, files, extra)
            s.rollback()  # read-only: release the snapshot before the rename
    except BaseException as exc:
        _finish(session_factory, export_id, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    counts = run.counts
    _finish(
        session_factory,
        export_id,
        RunStatus.SUCCEEDED,
        counts=counts.as_dict(),
        files=files,
    )
    return ExportResult(
        export_id, out_dir, counts, files, clock() - started, warnings=check.warnings()
    )


def plan_export(
    session_factory: sessionmaker[Session],
    spec: ExportSpec,
    *,
    collaborators: Collaborators | None = None,
) -> ExportPlan:
    """A dry run: the counts per category and split and every drop by reason, writing
    nothing (no files, no Export row). Raises what the export would (empty, licence)."""
    co = collaborators if collaborators is not None else default_collaborators()
    with session_scope(session_factory) as s:
        begin_snapshot(s)
        drops = DropLog()
        run = _Run(s, spec, co, WRITERS, drops)
        _sel, _marks, _prov, check = run.select()
        s.rollback()
    return ExportPlan(run.counts, drops.counts, drops.examples, check.warnings())
