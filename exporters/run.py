"""One export run: read, deduplicate, balance, split, write every format, record the Export."""

from __future__ import annotations

import logging
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from exporters.atomic import atomic_folder, remove_leftovers, sweep_leftovers, target_lock
from exporters.balance import allocate, choose
from exporters.card import SPLITS, ExportCounts, describe_files, write_card, write_manifest
from exporters.card_origins import origin_table
from exporters.formats import WRITERS, OutRow, Writer
from exporters.pseudonym import pseudonym
from exporters.quality import Collaborators, dedup_text, default_collaborators
from exporters.spec import ExportSpec
from exporters.split import NO_AUTHOR, TEST, assign_split
from store.db import session_scope
from store.enums import Origin, RunStatus
from store.errors import Conflict
from store.export_queries import (
    ExportFilter,
    ExportRow,
    begin_snapshot,
    category_table,
    duplicate_ids,
    export_category_ids,
    iter_keys,
    iter_rows,
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


@dataclass
class ExportResult:
    """What an export wrote and where; `files` maps relative paths to sha256, bytes, rows."""

    export_id: int
    out_dir: Path
    counts: ExportCounts
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Selection:
    # Parallel arrays, ascending by id: compact (24 bytes an example) and free of text.
    ids: array[int] = field(default_factory=lambda: array("q"))
    cats: array[int] = field(default_factory=lambda: array("q"))
    authors: array[int] = field(default_factory=lambda: array("q"))

    def keep(self, positions: list[int]) -> _Selection:
        out = _Selection()
        for p in positions:
            out.ids.append(self.ids[p])
            out.cats.append(self.cats[p])
            out.authors.append(self.authors[p])
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
        progress: ProgressFn | None = None,
    ) -> None:
        self.s = session
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

    def read_keys(self) -> _Selection:
        sel = _Selection()
        dups = duplicate_ids(self.s, self.flt)
        ids, cats, authors = sel.ids.append, sel.cats.append, sel.authors.append
        for example_id, category_id, author_id in iter_keys(self.s, self.flt):
            if example_id in dups:
                self.counts.exact_duplicates += 1
                continue
            ids(example_id)
            cats(category_id)
            authors(NO_AUTHOR if author_id is None else author_id)
        return sel

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
            kept.extend(choose(positions, want[slug], self.spec.seed, slug))
        kept.sort()
        self.counts.balanced_out = len(sel.ids) - len(kept)
        return sel.keep(kept)

    def clean(self, text: str) -> str:
        if self.spec.strip_citations and self.co.strip_citations is not None:
            text = self.co.strip_citations(text)
        if self.spec.scrub_pii and self.co.scrub_pii is not None:
            text = self.co.scrub_pii(text)
        return text

    def drop_near_duplicates(self, sel: _Selection) -> _Selection:
        threshold = self.spec.near_dup_threshold
        if threshold is None or self.co.near_dups is None or not sel.ids:
            return sel
        index = self.co.near_dups(threshold)
        kept: list[int] = []
        p = 0
        rows = iter_rows(self.s, sel.ids)
        for row in track(rows, self.progress, "near-duplicates", len(sel.ids)):
            p = _advance(sel.ids, p, row.id)
            text = dedup_text(self.clean(row.instruction), self.clean(row.context))
            if index.seen(row.id, text, row.category):
                self.counts.near_duplicates += 1
            else:
                kept.append(p)
        return sel.keep(kept)

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
        )

    def write(self, sel: _Selection, marks: bytearray, root: Path) -> dict[str, int]:
        opened: dict[str, list[Writer]] = {s: [] for s in SPLITS}
        rows: dict[str, int] = {}
        try:
            for fmt in self.spec.formats:
                cls = self.writers[fmt]
                (root / fmt).mkdir()
                for split in SPLITS:
                    opened[split].append(cls(root / fmt / f"{split}.{cls.extension}"))
            p = 0
            by_split = self.counts.by_split
            origins = self.counts.origins
            rows_in = iter_rows(self.s, sel.ids)
            for row in track(rows_in, self.progress, "writing", len(sel.ids)):
                p = _advance(sel.ids, p, row.id)
                split = SPLITS[1] if marks[p] == TEST else SPLITS[0]
                out = self.out_row(row)
                for w in opened[split]:
                    w.write(out)
                by_split[split][out.category] = by_split[split].get(out.category, 0) + 1
                if row.guideline_version is not None:
                    self.guidelines[row.category].add(row.guideline_version)
                origins[out.origin] = origins.get(out.origin, 0) + 1
        finally:
            for ws in opened.values():
                for w in ws:
                    w.close()
        for ws in opened.values():
            for w in ws:
                rows[w.path.relative_to(root).as_posix()] = w.rows
        return rows


def run_export(
    session_factory: sessionmaker[Session],
    out_dir: Path,
    spec: ExportSpec,
    *,
    overwrite: bool = False,
    collaborators: Collaborators | None = None,
    writers: Mapping[str, type[Writer]] = WRITERS,
    clock: Callable[[], float] = time.monotonic,
    progress: ProgressFn | None = None,
) -> ExportResult:
    """Export approved examples to `out_dir` per `spec`, recording an Export row.

    `progress` (store.progress.ProgressFn) hears how far the near-duplicate and write passes are.

    Reads one consistent snapshot in a single transaction; on any failure the Export row is
    marked failed with the error and nothing is left at `out_dir`.
    """
    out_dir = Path(out_dir).absolute()
    # One export per folder at a time: a second one fails at once, saying so.
    with target_lock(out_dir):
        _clean_up_interrupted(session_factory, out_dir)
        return _run_locked(
            session_factory, out_dir, spec, overwrite, collaborators, writers, clock, progress
        )


def _run_locked(
    session_factory: sessionmaker[Session],
    out_dir: Path,
    spec: ExportSpec,
    overwrite: bool,
    collaborators: Collaborators | None,
    writers: Mapping[str, type[Writer]],
    clock: Callable[[], float],
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
        ):
            begin_snapshot(s)
            run = _Run(s, spec, co, writers, progress)
            sel = run.read_keys()
            log.info("export %s: %d eligible examples", export_id, len(sel.ids))
            sel = run.balance(sel)
            sel = run.drop_near_duplicates(sel)
            marks = assign_split(
                [run.slug(c) for c in sel.cats], sel.authors, spec.test_size, spec.seed
            )
            rows = run.write(sel, marks, tmp)
            data_files = sorted(rows)
            versions = {c: sorted(v) for c, v in sorted(run.guidelines.items())}
            mix = origin_table(origin_mix(s, sel.ids))
            write_card(
                tmp,
                out_dir.name,
                spec,
                run.counts,
                data_files,
                origin_lines=mix,
                guideline_versions=versions,
            )
            files = describe_files(tmp, rows)
            extra = {
                "name": out_dir.name,
                "export_id": export_id,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
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
    return ExportResult(export_id, out_dir, counts, files, clock() - started)
