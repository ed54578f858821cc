"""One export run: read, deduplicate, balance, split, write every format, record the Export."""

from __future__ import annotations

import logging
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from exporters.atomic import atomic_folder
from exporters.balance import allocate, choose
from exporters.card import SPLITS, ExportCounts, describe_files, write_card, write_manifest
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
from store.models import Export
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
    ) -> None:
        self.s = session
        self.spec = spec
        self.co = collaborators
        self.writers = writers
        self.counts = ExportCounts()
        self.cats = category_table(session)
        self.flt = ExportFilter(
            origins=tuple(Origin(o) for o in spec.origins),
            min_reviews=spec.min_reviews,
            category_ids=export_category_ids(session, spec.categories),
        )
        # Category slug -> guideline versions the exported rows were written under.
        self.guidelines: dict[str, set[int]] = defaultdict(set)
        self._pseudonyms: dict[tuple[str, str], str | None] = {}

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
        for row in iter_rows(self.s, sel.ids):
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
            for row in iter_rows(self.s, sel.ids):
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
) -> ExportResult:
    """Export approved examples to `out_dir` per `spec`, recording an Export row.

    Reads one consistent snapshot in a single transaction; on any failure the Export row is
    marked failed with the error and nothing is left at `out_dir`.
    """
    started = clock()
    out_dir = Path(out_dir).absolute()
    co = collaborators if collaborators is not None else default_collaborators()
    if out_dir.exists() and not overwrite:
        raise Conflict(f"{out_dir} already exists; choose another --out or pass --overwrite")
    export_id = _start(session_factory, out_dir, spec)
    try:
        with (
            atomic_folder(out_dir, overwrite=overwrite) as tmp,
            session_scope(session_factory) as s,
        ):
            begin_snapshot(s)
            run = _Run(s, spec, co, writers)
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
            write_card(tmp, out_dir.name, spec, run.counts, data_files, guideline_versions=versions)
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
