"""Import of public instruction datasets (Dolly JSONL, Alpaca JSON): all rows or none."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.categories import list_categories
from store.enums import ExampleStatus, Origin
from store.errors import DomainError
from store.models import Category, Example
from store.progress import ProgressFn, track
from store.quality.batch import BatchDuplicate, BatchItem, scan_batch
from store.quality.dedup import DedupIndex, prompt_text
from store.types import utcnow
from store.validation import content_hash, validate_pair

FORMATS = ("dolly", "alpaca")
# What to do with records whose prompt is a near-duplicate (ROUGE-L F1 >= threshold) of a
# stored example or of an earlier record of the same file.
NEAR_DUPLICATE_MODES = ("off", "report", "skip")
MAX_REPORTED_ERRORS = 20
INSERT_BATCH = 5_000

_MISSING = object()


@dataclass(frozen=True)
class LineError:
    """One bad record: where it is and what to fix."""

    line: int
    message: str
    unit: str = "line"  # "item" for the objects of a JSON array

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.message}"


class ImportFailed(DomainError):
    """The file had bad records; nothing was written. `errors` names each line."""

    code = "import_failed"

    def __init__(self, path: Path, errors: list[LineError], total_errors: int) -> None:
        self.path = path
        self.errors = errors
        self.total_errors = total_errors
        shown = "\n".join(f"  {path.name}:{e}" for e in errors)
        more = total_errors - len(errors)
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(
            f"{path}: {total_errors} bad record(s), nothing was imported:\n{shown}{tail}"
        )


@dataclass(frozen=True)
class Record:
    """A parsed record before it becomes an Example."""

    line: int
    instruction: str
    context: str
    response: str
    category: str


@dataclass
class ImportReport:
    """What an import did: rows read, added, already present, per category."""

    path: str
    format: str
    read: int = 0
    added: int = 0
    already_present: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    near_duplicates: list[BatchDuplicate] = field(default_factory=list)
    skipped_near_duplicates: int = 0


# Ordered rules for Alpaca, which has no categories: first match wins.
_INFER_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(summari[sz]e|summary|tl;?dr)\b", re.I), "summarization"),
    (
        re.compile(r"\b(classify|categori[sz]e|which category|sentiment|label)\b", re.I),
        "classification",
    ),
    (
        re.compile(r"\b(extract|identify all|list (all )?the (names|dates|entities))\b", re.I),
        "information_extraction",
    ),
    (
        re.compile(
            r"\b(brainstorm|come up with|generate a list|ideas?"
            r"|list (some|several|\d+|five|three|ten))\b",
            re.I,
        ),
        "brainstorming",
    ),
    (
        re.compile(
            r"\b(poem|story|haiku|lyrics|song|essay|letter|tweet|slogan|creative|fiction|dialogue)\b",
            re.I,
        ),
        "creative_writing",
    ),
)


# Literal pieces (lower case), at least one of which is inside any match of the rule's
# pattern. The case-insensitive regexes are slow on long prompts; running one only when a
# piece is present gives the same categories ~2.5x faster (54k T0 instructions).
_INFER_HINTS: dict[str, tuple[str, ...]] = {
    "summarization": ("summar", "tl;dr", "tldr"),
    "classification": ("classify", "categori", "which category", "sentiment", "label"),
    "information_extraction": (
        "extract",
        "identify all",
        "the names",
        "the dates",
        "the entities",
    ),
    "brainstorming": ("brainstorm", "come up with", "generate a list", "idea", "list "),
    "creative_writing": (
        "poem",
        "story",
        "haiku",
        "lyrics",
        "song",
        "essay",
        "letter",
        "tweet",
        "slogan",
        "creative",
        "fiction",
        "dialogue",
    ),
}
# The only non-ASCII characters re.IGNORECASE equates with ASCII letters (İ ı → i, K → k,
# ſ → s); folding them first keeps the hint test a superset of the regex match.
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u212a": "k", "\u017f": "s"})


def example_row(
    category: Category,
    instruction: str,
    context: str,
    response: str,
    status: ExampleStatus,
    origin: Origin,
    source: str,
    source_ref: str,
    now: datetime,
    *,
    source_name: str | None = None,
    licence: str | None = None,
) -> dict[str, Any]:
    """The column values of one bulk-inserted example (imports and transforms share it)."""
    ins, ctx, resp = instruction.strip(), context.strip(), response.strip()
    decided = status in (ExampleStatus.APPROVED, ExampleStatus.REJECTED)
    return {
        "category_id": category.id,
        "instruction": ins,
        "context": ctx,
        "response": resp,
        "status": status,
        "origin": origin,
        "content_hash": content_hash(ins, ctx, resp),
        "source": source,
        "source_ref": source_ref,
        "source_name": source_name,
        "licence": licence,
        "flags": [],
        "revision": 1,
        "review_count": 0,
        "created_at": now,
        "updated_at": now,
        "decided_at": now if decided else None,
    }


def infer_category(instruction: str, context: str) -> str:
    """Guess a Dolly category for an uncategorised pair from its instruction's wording."""
    text = instruction if instruction.isascii() else instruction.translate(_ASCII_FOLD)
    folded = text.lower()
    for pattern, slug in _INFER_RULES:
        hints = _INFER_HINTS[slug]
        if any(h in folded for h in hints) and pattern.search(instruction):
            return slug
    if context.strip():
        return "closed_qa"
    return "open_qa" if instruction.rstrip().endswith("?") else "general_qa"


GZIP_MAGIC = b"\x1f\x8b"


def open_data(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it is gzip (by its magic bytes, whatever its name)."""
    fh = path.open("rb")
    if fh.read(2) == GZIP_MAGIC:
        fh.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    fh.seek(0)
    return fh


def check_readable(path: Path) -> None:
    """A DomainError naming the problem unless `path` is a file we can read."""
    if path.is_dir():
        raise DomainError(f"{path} is a directory; give the path of a .jsonl, .json or .gz file")
    if not path.is_file():
        raise DomainError(f"{path}: no such file")


def detect_format(path: Path) -> str:
    """`alpaca` when the file is one JSON array, `dolly` when it is JSON lines."""
    with open_data(path) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "alpaca" if head.startswith(b"[") else "dolly"


def _decode_lines(
    path: Path, progress: ProgressFn | None = None
) -> Iterator[tuple[int, str | LineError]]:
    with open_data(path) as fh:
        lines = fh.readlines()  # all of it: the line count is the reading bar's total
    for number, raw in enumerate(track(lines, progress, "reading", len(lines)), start=1):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield (
                number,
                LineError(number, f"not UTF-8 (byte {exc.start}); save the file as UTF-8"),
            )


def _text_field(obj: dict[str, Any], name: str, *, required: bool) -> str:
    value = obj.get(name)
    if value is None:
        if required:
            raise ValueError(f"missing field {name!r}")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def _parse_dolly(
    path: Path, errors: list[LineError], progress: ProgressFn | None = None
) -> Iterator[Record]:
    for number, text in _decode_lines(path, progress):
        if isinstance(text, LineError):
            errors.append(text)
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(LineError(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            errors.append(LineError(number, "each line must be one JSON object"))
            continue
        try:
            yield Record(
                number,
                _text_field(obj, "instruction", required=True),
                _text_field(obj, "context", required=False),
                _text_field(obj, "response", required=True),
                _text_field(obj, "category", required=True).strip(),
            )
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))


def _alpaca_items(path: Path) -> list[Any]:
    with open_data(path) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFailed(path, [LineError(line, "not UTF-8; save the file as UTF-8")], 1) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        err = LineError(exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})")
        raise ImportFailed(path, [err], 1) from exc
    if not isinstance(data, list):
        raise ImportFailed(path, [LineError(1, "an Alpaca file is one JSON array of objects")], 1)
    return data


def _parse_alpaca(
    path: Path, errors: list[LineError], category: str | None, progress: ProgressFn | None = None
) -> Iterator[Record]:
    items = _alpaca_items(path)
    for index, obj in enumerate(track(items, progress, "reading", len(items)), start=1):
        # JSON arrays have no line numbers per item; we report the item's position instead.
        if not isinstance(obj, dict):
            errors.append(LineError(index, "must be a JSON object", "item"))
            continue
        try:
            instruction = _text_field(obj, "instruction", required=True)
            context = _text_field(obj, "input", required=False)
            response = _text_field(obj, "output", required=True)
        except ValueError as exc:
            errors.append(LineError(index, str(exc), "item"))
            continue
        slug = category or infer_category(instruction, context)
        yield Record(index, instruction, context, response, slug)


def parse_file(
    path: Path, fmt: str, category: str | None = None, progress: ProgressFn | None = None
) -> tuple[list[Record], list[LineError]]:
    """Read every record of a Dolly or Alpaca file, collecting errors instead of stopping."""
    errors: list[LineError] = []
    try:
        return _parse(path, fmt, category, errors, progress), errors
    except (gzip.BadGzipFile, EOFError) as exc:
        raise _damaged_gzip(path, exc) from exc


def _damaged_gzip(path: Path, exc: Exception) -> ImportFailed:
    # A truncated or damaged .gz: say so instead of a decompressor traceback.
    err = LineError(1, f"damaged or truncated gzip file ({exc or 'unexpected end'})")
    return ImportFailed(path, [err], 1)


def _parse(
    path: Path,
    fmt: str,
    category: str | None,
    errors: list[LineError],
    progress: ProgressFn | None,
) -> list[Record]:
    if fmt == "dolly":
        records = list(_parse_dolly(path, errors, progress))
        if category:
            records = [
                Record(r.line, r.instruction, r.context, r.response, category) for r in records
            ]
    elif fmt == "alpaca":
        records = list(_parse_alpaca(path, errors, category, progress))
    else:
        raise DomainError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}, auto")
    return records


def import_file(
    session: Session,
    path: Path,
    *,
    fmt: str = "auto",
    status: ExampleStatus = ExampleStatus.APPROVED,
    origin: Origin = Origin.IMPORTED,
    category: str | None = None,
    progress: ProgressFn | None = None,
    near_duplicates: str = "report",
    near_threshold: float = 0.7,
    source_name: str | None = None,
    licence: str | None = None,
) -> ImportReport:
    """Import a whole file in the caller's transaction, or raise ImportFailed and write nothing.

    `source_name` and `licence` (the dataset's name and licence) are stored on every row.
    """
    path = Path(path)
    check_readable(path)
    if path.stat().st_size == 0:
        raise ImportFailed(path, [LineError(1, "the file is empty")], 1)
    if fmt == "auto":
        try:
            fmt = detect_format(path)
        except (gzip.BadGzipFile, EOFError) as exc:
            raise _damaged_gzip(path, exc) from exc
    cats: dict[str, Category] = {c.slug: c for c in list_categories(session)}
    if category is not None and category not in cats:
        raise DomainError(f"unknown category {category!r}; known: {', '.join(cats)}")
    records, errors = parse_file(path, fmt, category, progress)
    if not records and not errors:
        errors.append(LineError(1, "the file has no records"))
    rows: list[dict[str, Any]] = []
    source = path.name
    present = set(session.scalars(select(Example.source_ref).where(Example.source == source)))
    report = ImportReport(path=str(path), format=fmt, read=len(records))
    now = utcnow()
    unit = "line" if fmt == "dolly" else "item"
    for rec in track(records, progress, "checking", len(records)):
        cat = cats.get(rec.category)
        if cat is None:
            known = ", ".join(cats)
            errors.append(
                LineError(rec.line, f"unknown category {rec.category!r}; known: {known}", unit)
            )
            continue
        problems = validate_pair(cat, rec.instruction, rec.context, rec.response, strict=False)
        if problems:
            errors.extend(LineError(rec.line, f"{k}: {v}", unit) for k, v in problems.items())
            continue
        ref = f"{unit} {rec.line}"
        if ref in present:
            report.already_present += 1
            continue
        rows.append(
            example_row(
                cat,
                rec.instruction,
                rec.context,
                rec.response,
                status,
                origin,
                source,
                ref,
                now,
                source_name=source_name,
                licence=licence,
            )
        )
        report.by_category[cat.slug] = report.by_category.get(cat.slug, 0) + 1
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportFailed(path, errors[:MAX_REPORTED_ERRORS], len(errors))
    rows = _near_duplicate_pass(
        session, rows, cats, report, near_duplicates, near_threshold, progress
    )
    insert_example_rows(session, rows, progress)
    report.added = len(rows)
    return report


def insert_example_rows(
    session: Session, rows: list[dict[str, Any]], progress: ProgressFn | None = None
) -> None:
    """Bulk-insert `example_row` dicts in the session's transaction, as fast as executemany.

    The rows of one import share most values (status, origin, timestamps, flags): each
    column's bind processor runs once per distinct value, and the tuples go straight to the
    driver's executemany, instead of SQLAlchemy processing every value of every row.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    table = Example.__table__
    names = list(rows[0])
    columns = []
    for name in names:
        values = [r[name] for r in rows]
        processor = table.c[name].type._cached_bind_processor(dialect)
        if processor is not None:
            done: dict[Any, Any] = {}
            out = []
            for v in values:
                key = tuple(v) if isinstance(v, list) else v
                got = done.get(key, _MISSING)
                if got is _MISSING:
                    got = done[key] = processor(v)
                out.append(got)
            values = out
        columns.append(values)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    # Only our own table's quoted column names are formatted in; every value is a parameter.
    cols, marks = ", ".join(quote(n) for n in names), ", ".join([mark] * len(names))
    sql = f"INSERT INTO {quote(Example.__tablename__)} ({cols}) VALUES ({marks})"  # noqa: S608
    tuples = list(zip(*columns, strict=True))
    for start in range(0, len(tuples), INSERT_BATCH):
        if progress is not None:
            progress("writing", start, len(tuples))
        conn.exec_driver_sql(sql, tuples[start : start + INSERT_BATCH])
    if progress is not None:
        progress("writing", len(tuples), len(tuples))


def _near_duplicate_pass(
    session: Session,
    rows: list[dict[str, Any]],
    cats: dict[str, Category],
    report: ImportReport,
    mode: str,
    threshold: float,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """Find near-duplicates of the rows (in the file and in the corpus); drop them in skip mode."""
    if mode not in NEAR_DUPLICATE_MODES:
        raise DomainError(
            f"unknown near-duplicate mode {mode!r}; use one of: {', '.join(NEAR_DUPLICATE_MODES)}"
        )
    if mode == "off" or not rows:
        return rows
    slugs = {c.id: c.slug for c in cats.values()}
    items = [
        BatchItem(
            r["source_ref"], prompt_text(r["instruction"], r["context"]), slugs[r["category_id"]]
        )
        for r in rows
    ]
    skip = mode == "skip"
    scan_progress = None
    if progress is not None:
        report_to = progress

        def scan_progress(done: int, total: int) -> None:
            report_to("near-duplicates", done, total)

    report.near_duplicates = scan_batch(
        DedupIndex.from_session(session),
        items,
        threshold=threshold,
        keep_duplicates=not skip,
        progress=scan_progress,
    )
    if not skip:
        return rows
    dropped = {d.ref for d in report.near_duplicates}
    kept = []
    for row, item in zip(rows, items, strict=True):
        if item.ref in dropped:
            report.by_category[item.category_slug] -= 1
        else:
            kept.append(row)
    report.by_category = {k: v for k, v in report.by_category.items() if v}
    report.skipped_near_duplicates = len(rows) - len(kept)
    return kept
