"""Import of public instruction datasets, all rows or none: pairs from Dolly JSONL and Alpaca
JSON, conversations from ShareGPT (JSON lines or one JSON array) and OpenAI chat JSONL."""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from store.categories import list_categories
from store.choices import IMPORT_FORMATS as FORMATS
from store.choices import NEAR_DUPLICATE_MODES
from store.conversations import Turn, conversation_hash, sides, turn_values, validate_turns
from store.enums import ExampleKind, ExampleStatus, Origin, TurnRole
from store.errors import DomainError
from store.models import Category, Example, ExampleTurn
from store.progress import ProgressFn, track
from store.quality.batch import BatchDuplicate, BatchItem, scan_batch
from store.quality.dedup import DedupIndex, prompt_text
from store.quality.pairs_worker import PairsWorker, ScanWorkerFailed
from store.types import utcnow
from store.validation import content_hash, validate_pair

log = logging.getLogger(__name__)

# Formats whose records are conversations (every turn kept, as example_turns).
CHAT_FORMATS = ("sharegpt", "openai")
# How much of a file auto-detection reads to see its first record's keys.
DETECT_BYTES = 1 << 20
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
    # A conversation's turns (ShareGPT, OpenAI chat); None for a pair.
    turns: tuple[Turn, ...] | None = None


# The speakers each chat format names, as our turn roles. ShareGPT's are FastChat's (human,
# gpt) and the role names LLaMA-Factory and axolotl accept; OpenAI's "developer" is its newer
# name for the system message. Tool and function turns have no place in an example.
SHAREGPT_ROLES = {
    "system": TurnRole.SYSTEM,
    "human": TurnRole.USER,
    "user": TurnRole.USER,
    "gpt": TurnRole.ASSISTANT,
    "assistant": TurnRole.ASSISTANT,
    "chatgpt": TurnRole.ASSISTANT,
}
OPENAI_ROLES = {
    "system": TurnRole.SYSTEM,
    "developer": TurnRole.SYSTEM,
    "user": TurnRole.USER,
    "assistant": TurnRole.ASSISTANT,
}


@dataclass
class ImportReport:
    """What an import did: rows read, added, already present, per category; of the rows added,
    how many are conversations and how many turns they have."""

    path: str
    format: str
    read: int = 0
    added: int = 0
    already_present: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    near_duplicates: list[BatchDuplicate] = field(default_factory=list)
    skipped_near_duplicates: int = 0
    conversations: int = 0
    turns: int = 0


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
    turns: Sequence[Turn] | None = None,
) -> dict[str, Any]:
    """The column values of one bulk-inserted example (imports and transforms share it).

    With `turns` it is a conversation: its sides become the instruction and response, as
    submit_example stores them (the turns themselves go to example_turns: insert_turns).
    """
    if turns is not None:
        instruction, response = sides(turns)
        context = ""
    ins, ctx, resp = instruction.strip(), context.strip(), response.strip()
    decided = status in (ExampleStatus.APPROVED, ExampleStatus.REJECTED)
    return {
        "category_id": category.id,
        "kind": ExampleKind.PAIR if turns is None else ExampleKind.CONVERSATION,
        "instruction": ins,
        "context": ctx,
        "response": resp,
        "status": status,
        "origin": origin,
        "content_hash": (
            content_hash(ins, ctx, resp) if turns is None else conversation_hash(turns)
        ),
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
    """The format of a file by its first record: one JSON array is Alpaca (ShareGPT when its
    first item has `conversations`); JSON lines are Dolly, ShareGPT (`conversations`) or
    OpenAI chat (`messages`)."""
    with open_data(path) as fh:
        head = fh.read(DETECT_BYTES).decode("utf-8-sig", errors="replace").lstrip(" \t\r\n")
    if head.startswith("["):
        return "sharegpt" if "conversations" in _first_object(head[1:]) else "alpaca"
    first = next((line for line in head.splitlines() if line.strip()), "")
    keys = _first_object(first)
    if "conversations" in keys:
        return "sharegpt"
    return "openai" if "messages" in keys else "dolly"


def _first_object(text: str) -> dict[str, Any]:
    # The JSON object `text` starts with, or {} when it is none (the parser reports why).
    try:
        value, _ = json.JSONDecoder().raw_decode(text.lstrip(" \t\r\n"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_json_array(path: Path) -> bool:
    with open_data(path) as fh:
        head = fh.read(4096)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


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


def _json_lines(
    path: Path, errors: list[LineError], progress: ProgressFn | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    # (line number, object) of each non-blank line; bad lines go to `errors`.
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
        yield number, obj


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
    for number, obj in _json_lines(path, errors, progress):
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


def _json_array(path: Path, what: str) -> list[Any]:
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
        raise ImportFailed(path, [LineError(1, f"{what} is one JSON array of objects")], 1)
    return data


def _parse_alpaca(
    path: Path, errors: list[LineError], category: str | None, progress: ProgressFn | None = None
) -> Iterator[Record]:
    items = _json_array(path, "an Alpaca file")
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


def _turn_text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    # OpenAI's content may be a list of parts: text parts are kept, in order.
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
            for part in value
        )
    ):
        return "\n\n".join(part["text"] for part in value)
    got = "null" if value is None else type(value).__name__
    raise ValueError(f"{key!r} must be a string (or a list of text parts), got {got}")


def chat_turns(obj: dict[str, Any], fmt: str) -> list[Turn]:
    """The turns of one ShareGPT (`conversations` of {from, value}) or OpenAI chat
    (`messages` of {role, content}) record; ValueError names the first bad turn."""
    if fmt == "sharegpt":
        key, speaker, text_key, roles = "conversations", "from", "value", SHAREGPT_ROLES
    else:
        key, speaker, text_key, roles = "messages", "role", "content", OPENAI_ROLES
    items = obj.get(key)
    if not isinstance(items, list) or not items:
        raise ValueError(f"missing field {key!r} (a list of turns)")
    turns: list[Turn] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"turn {n}: must be a JSON object")
        who = item.get(speaker)
        role = roles.get(who) if isinstance(who, str) else None
        if role is None:
            raise ValueError(
                f"turn {n}: {speaker} {who!r} is not one of {', '.join(roles)} (an example "
                "keeps system, user and assistant turns only)"
            )
        try:
            turns.append(Turn(role, _turn_text(item.get(text_key), text_key)))
        except ValueError as exc:
            raise ValueError(f"turn {n}: {exc}") from exc
    return turns


def _chat_record(obj: Any, fmt: str, number: int, category: str | None) -> Record:
    if not isinstance(obj, dict):
        raise ValueError("must be a JSON object")
    turns = tuple(chat_turns(obj, fmt))
    # LLaMA-Factory's ShareGPT layout may keep the system prompt beside the turns.
    system = obj.get("system") if fmt == "sharegpt" else None
    if isinstance(system, str) and system.strip():
        if turns[0].role == TurnRole.SYSTEM:
            raise ValueError("both a `system` field and a system turn: keep one")
        turns = (Turn(TurnRole.SYSTEM, system), *turns)
    user, assistant = sides(turns)
    # A ShareGPT line of our own exports names its category; otherwise --category, or the
    # wording of the first user turn.
    named = obj.get("category")
    first_user = next((t.text for t in turns if t.role == TurnRole.USER), "")
    slug = category or (named.strip() if isinstance(named, str) and named.strip() else None)
    return Record(number, user, "", assistant, slug or infer_category(first_user, ""), turns)


def _parse_chat(
    path: Path,
    fmt: str,
    errors: list[LineError],
    category: str | None,
    progress: ProgressFn | None = None,
) -> Iterator[Record]:
    if _is_json_array(path):
        if fmt == "openai":
            errors.append(LineError(1, "an OpenAI chat file has one JSON object per line"))
            return
        items = _json_array(path, "a ShareGPT file")
        numbered: Iterator[tuple[int, Any]] = enumerate(
            track(items, progress, "reading", len(items)), start=1
        )
        unit = "item"
    else:
        numbered, unit = _json_lines(path, errors, progress), "line"
    for number, obj in numbered:
        try:
            yield _chat_record(obj, fmt, number, category)
        except ValueError as exc:
            errors.append(LineError(number, str(exc), unit))


def record_unit(path: Path, fmt: str) -> str:
    """What a record's number counts in this file: `line` of JSON lines, `item` of an array."""
    if fmt == "alpaca" or (fmt == "sharegpt" and _is_json_array(path)):
        return "item"
    return "line"


def parse_file(
    path: Path, fmt: str, category: str | None = None, progress: ProgressFn | None = None
) -> tuple[list[Record], list[LineError]]:
    """Read every record of a file in one of FORMATS, collecting errors instead of stopping."""
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
    elif fmt in CHAT_FORMATS:
        records = list(_parse_chat(path, fmt, errors, category, progress))
    else:
        raise DomainError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}, auto")
    return records


def _problems(category: Category, rec: Record) -> dict[str, str]:
    # The store's rules, unit by unit: turn_N keys become "turn N" (counted from 1).
    if rec.turns is None:
        return validate_pair(category, rec.instruction, rec.context, rec.response, strict=False)
    found = validate_turns(category, rec.turns, strict=False)
    return {
        (f"turn {int(k.removeprefix('turn_')) + 1}" if k.startswith("turn_") else k): v
        for k, v in found.items()
    }


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
    commit: Callable[[], None] | None = None,
) -> ImportReport:
    """Import a whole file in the caller's transaction, or raise ImportFailed and write nothing.

    `source_name` and `licence` (the dataset's name and licence) are stored on every row.
    `commit`, if given, is called once every row is written, before the report's
    near-duplicates are complete: a scan still running beside the insert then overlaps the
    commit too (report mode changes no row).
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
    # Started before parsing, so that it loads its libraries meanwhile (None: no worker).
    with (
        contextlib.ExitStack() as stack,
        PairsWorker.for_import(path, near_duplicates) or contextlib.nullcontext() as worker,
    ):
        cats: dict[str, Category] = {c.slug: c for c in list_categories(session)}
        if category is not None and category not in cats:
            raise DomainError(f"unknown category {category!r}; known: {', '.join(cats)}")
        records, errors = parse_file(path, fmt, category, progress)
        stack.enter_context(_parsed_records_settled())
        if not records and not errors:
            errors.append(LineError(1, "the file has no records"))
        if worker is not None and records and not errors:
            # The worker starts on the records' prompts now, while they are checked and
            # written; used only if they are exactly the rows' (none invalid, none present).
            worker.submit([_record_prompt(rec) for rec in records], near_threshold)
        rows: list[dict[str, Any]] = []
        source = path.name
        present = set(session.scalars(select(Example.source_ref).where(Example.source == source)))
        report = ImportReport(path=str(path), format=fmt, read=len(records))
        now = utcnow()
        unit = record_unit(path, fmt)
        turns_at: dict[str, tuple[Turn, ...]] = {}  # source_ref -> a conversation's turns
        for rec in track(records, progress, "checking", len(records)):
            cat = cats.get(rec.category)
            if cat is None:
                known = ", ".join(cats)
                errors.append(
                    LineError(rec.line, f"unknown category {rec.category!r}; known: {known}", unit)
                )
                continue
            problems = _problems(cat, rec)
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
                    turns=rec.turns,
                )
            )
            if rec.turns is not None:
                turns_at[ref] = rec.turns
            report.by_category[cat.slug] = report.by_category.get(cat.slug, 0) + 1
        if errors:
            errors.sort(key=lambda e: e.line)
            raise ImportFailed(path, errors[:MAX_REPORTED_ERRORS], len(errors))
        rows, finish = _near_duplicate_pass(
            session, rows, cats, report, near_duplicates, near_threshold, progress, worker
        )
        insert_example_rows(session, rows, progress)
        refs = [r["source_ref"] for r in rows]
        kept = {ref: turns_at[ref] for ref in refs if ref in turns_at}
        insert_turns(session, source, kept)
        report.added = len(rows)
        report.conversations = len(kept)
        report.turns = sum(len(t) for t in kept.values())
        if commit is not None:
            commit()
        finish()  # the near-duplicates found beside the insert (a worker), if not before it
        return report


@contextlib.contextmanager
def _parsed_records_settled() -> Iterator[None]:
    """Keep the garbage collector from walking the parsed records again and again: they live
    until the import ends and hold no cycles, and a full collection over a large file's
    objects costs a noticeable pause (60 ms of a 15k-row import, while the report is built)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def insert_turns(session: Session, source: str, turns: Mapping[str, Sequence[Turn]]) -> None:
    """Store the turns of conversations just bulk-inserted from `source`, keyed by source_ref.

    Their ids come back through the unique (source, source_ref) index, a batch at a time.
    """
    refs = list(turns)
    for start in range(0, len(refs), INSERT_BATCH):
        chunk = refs[start : start + INSERT_BATCH]
        ids = session.execute(
            select(Example.source_ref, Example.id).where(
                Example.source == source, Example.source_ref.in_(chunk)
            )
        )
        rows = [
            {"example_id": example_id, **values}
            for ref, example_id in ids
            for values in turn_values(turns[str(ref)])
        ]
        if rows:  # Core executemany: no ORM objects for what nobody reads back
            session.execute(insert(cast(Table, ExampleTurn.__table__)), rows)


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
    worker: PairsWorker | None = None,
) -> tuple[list[dict[str, Any]], Callable[[], None]]:
    """Find near-duplicates of the rows (in the file and in the corpus); drop them in skip mode.

    Returns the rows to insert and what to call once they are inserted: with a `worker`
    (report mode only), the file's own pairs are found beside the insert and the report is
    completed then. The corpus is read here, before the rows join it.
    """
    if mode not in NEAR_DUPLICATE_MODES:
        raise DomainError(
            f"unknown near-duplicate mode {mode!r}; use one of: {', '.join(NEAR_DUPLICATE_MODES)}"
        )
    if mode == "off" or not rows:
        return rows, _nothing
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

    index = DedupIndex.from_session(session)
    if worker is not None and worker.submitted != [item.text for item in items]:
        worker.close()  # it works on other texts (some rows were present): stop it
        worker = None
    if worker is not None and not skip:
        ready = worker

        def finish() -> None:
            try:
                report.near_duplicates = scan_batch(
                    index,
                    items,
                    threshold=threshold,
                    progress=scan_progress,
                    within=lambda: ready.result(scan_progress),
                )
            except ScanWorkerFailed as exc:  # same answer, found here: slower, nothing lost
                log.warning("%s; scanning in this process instead", exc)
                report.near_duplicates = scan_batch(
                    index, items, threshold=threshold, progress=scan_progress
                )

        return rows, finish
    report.near_duplicates = scan_batch(
        index, items, threshold=threshold, keep_duplicates=not skip, progress=scan_progress
    )
    if not skip:
        return rows, _nothing
    dropped = {d.ref for d in report.near_duplicates}
    kept = []
    for row, item in zip(rows, items, strict=True):
        if item.ref in dropped:
            report.by_category[item.category_slug] -= 1
        else:
            kept.append(row)
    report.by_category = {k: v for k, v in report.by_category.items() if v}
    report.skipped_near_duplicates = len(rows) - len(kept)
    return kept, _nothing


def _record_prompt(rec: Record) -> str:
    """The prompt the near-duplicate check compares for the row `rec` becomes (example_row)."""
    if rec.turns is not None:
        return prompt_text(sides(rec.turns)[0])
    return prompt_text(rec.instruction, rec.context)


def _nothing() -> None:
    """A `finish` with nothing left to do."""
