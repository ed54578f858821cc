"""Existing NLP datasets turned into instruction pairs by varied templates: (context, question)
→ answer, document → summary, source → target sentence. All rows or none, like import."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

# The tasks, formats and phrasings live in a module that imports nothing, so the CLI can build
# its parser without importing this one (and store.importing with it).
from generators.transform_templates import (
    DEFAULT_CATEGORY,
    DEFAULT_COLUMNS,
    FORMATS,
    PHRASINGS,
    TASKS,
)
from store.categories import get_category
from store.enums import ExampleStatus, Origin
from store.errors import DomainError
from store.importing import MAX_REPORTED_ERRORS, ImportFailed, LineError, example_row
from store.models import Example
from store.types import utcnow
from store.validation import validate_pair


@dataclass
class TransformReport:
    """What a transform did: rows read, added, already present, phrasings used."""

    path: str
    task: str
    category: str
    format: str
    read: int = 0
    added: int = 0
    already_present: int = 0
    # Rows whose path ends in an empty list (SQuAD v2's unanswerable questions): not pairs.
    no_value: int = 0
    phrasings: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, Any]


def detect_format(path: Path) -> str:
    """csv, tsv or parquet by extension, JSON lines otherwise."""
    suffix = path.suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}.get(suffix, "jsonl")


def _parquet_rows(path: Path, errors: list[LineError]) -> Iterator[_Row]:
    import pyarrow.parquet as pq  # pyarrow loads for Parquet input only (the CLI starts faster)

    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        errors.append(LineError(1, f"not a Parquet file ({exc})", "row"))
        return
    number = 0
    for batch in reader.iter_batches(batch_size=10_000):
        for values in batch.to_pylist():
            number += 1
            yield _Row(number, values)


def _jsonl_rows(path: Path, errors: list[LineError]) -> Iterator[_Row]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                errors.append(LineError(number, f"not UTF-8 (byte {exc.start}); save as UTF-8"))
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                errors.append(
                    LineError(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
                )
                continue
            if not isinstance(obj, dict):
                errors.append(LineError(number, "each line must be one JSON object"))
                continue
            yield _Row(number, obj)


def _csv_rows(path: Path, delimiter: str, errors: list[LineError]) -> Iterator[_Row]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.append(LineError(1, f"not UTF-8 (byte {exc.start}); save as UTF-8"))
        return
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 2  # line 1 is the header
    try:
        for row in reader:
            # A quoted field may span lines: report the line the record starts on.
            line, start = start, reader.line_num + 1
            if None in row:
                errors.append(LineError(line, "more fields than the header has columns"))
                continue
            yield _Row(line, dict(row))
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"not valid CSV ({exc})"))


_PATH_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


class NoValue(ValueError):
    """The path ends in an empty list: the row has nothing for this role (not an error)."""


def resolve(values: Mapping[str, Any], path: str) -> Any:
    """The value at a column path: `answers.text[0]` is values["answers"]["text"][0].

    A column whose own name contains dots or brackets is found by that name first.
    """
    if path in values:
        return values[path]
    current: Any = values
    for part in path.split("."):
        m = _PATH_PART.fullmatch(part)
        if m is None or not isinstance(current, Mapping) or m.group(1) not in current:
            raise KeyError(path)
        current = current[m.group(1)]
        for index in re.findall(r"\[(\d+)\]", m.group(2)):
            if not isinstance(current, list):
                raise ValueError(f"{path}: {m.group(1)} is not a list")
            if int(index) >= len(current):
                raise NoValue(f"{path}: the list has {len(current)} item(s)")
            current = current[int(index)]
    return current


def _value(row: _Row, role: str, paths: tuple[str, ...]) -> str:
    value: Any = None
    for path in paths:
        try:
            value = resolve(row.values, path)
        except KeyError:
            continue
        break
    else:
        tried = " or ".join(repr(p) for p in paths)
        raise ValueError(
            f"missing column {tried} (the {role}); point to it with --column {role}=PATH"
        )
    column = path
    if not isinstance(value, str):
        raise ValueError(
            f"column {column!r} must be text, got {type(value).__name__}"
            + ("; pick one item, e.g. [0]" if isinstance(value, list) else "")
        )
    if not value.strip():
        raise ValueError(f"column {column!r} is empty")
    return value.strip()


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[:2].isupper() else text


def render_pair(
    task: str,
    values: Mapping[str, str],
    choice: int,
    *,
    source_lang: str | None = None,
    target_lang: str | None = None,
) -> tuple[str, str, str]:
    """(instruction, context, response) of one row with phrasing number `choice`."""
    template = PHRASINGS[task][choice]
    if task == "qa":
        q = values["question"]
        return (
            template.format(question=q, question_lc=_lower_first(q)),
            values["context"],
            values["answer"],
        )
    if task == "summarization":
        return template, values["document"], values["summary"]
    source_text = f"{source_lang} text" if source_lang else "text"
    ins = template.format(source_text=source_text, target_lang=target_lang)
    return ins, values["source"], values["target"]


def transform_file(
    session: Session,
    path: Path,
    *,
    task: str,
    category: str | None = None,
    seed: int = 0,
    columns: Mapping[str, str] | None = None,
    fmt: str = "auto",
    source_lang: str | None = None,
    target_lang: str | None = None,
    status: ExampleStatus = ExampleStatus.PENDING,
    source_name: str | None = None,
    licence: str | None = None,
) -> TransformReport:
    """Turn every row of `path` into an example in the caller's transaction, or raise
    ImportFailed naming each bad line and write nothing. `source_name` and `licence` (the
    dataset's name and licence) are stored on every row."""
    path = Path(path)
    if task not in TASKS:
        raise DomainError(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")
    if task == "translation" and not target_lang:
        raise DomainError("translation needs --target-lang (the language of the target column)")
    roles = dict(DEFAULT_COLUMNS[task])
    for role, name in (columns or {}).items():
        if role not in roles:
            raise DomainError(f"--column {role}=…: task {task} reads {', '.join(roles)}")
        roles[role] = (name,)
    if not path.is_file():
        raise DomainError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImportFailed(path, [LineError(1, "the file is empty")], 1)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DomainError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}, auto")
    cat = get_category(session, category or DEFAULT_CATEGORY[task])
    errors: list[LineError] = []
    if fmt == "jsonl":
        rows = list(_jsonl_rows(path, errors))
    elif fmt == "parquet":
        rows = list(_parquet_rows(path, errors))
    else:
        rows = list(_csv_rows(path, "," if fmt == "csv" else "\t", errors))
    if not rows and not errors:
        errors.append(LineError(1, "the file has no rows"))
    source = f"transform:{path.name}"[:255]
    present = set(session.scalars(select(Example.source_ref).where(Example.source == source)))
    report = TransformReport(str(path), task, cat.slug, fmt, read=len(rows))
    unit = "row" if fmt == "parquet" else "line"
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    for row in rows:
        try:
            values = {role: _value(row, role, paths) for role, paths in roles.items()}
        except NoValue:
            report.no_value += 1
            continue
        except ValueError as exc:
            errors.append(LineError(row.line, str(exc), unit))
            continue
        # Each row's phrasing depends on the seed and the row alone, not on the rows before it.
        choice = random.Random(f"{seed}:{task}:{row.line}").randrange(len(PHRASINGS[task]))
        ins, ctx, resp = render_pair(
            task, values, choice, source_lang=source_lang, target_lang=target_lang
        )
        problems = validate_pair(cat, ins, ctx, resp, strict=False)
        if problems:
            errors.extend(LineError(row.line, f"{k}: {v}", unit) for k, v in problems.items())
            continue
        ref = f"{unit} {row.line}"
        if ref in present:
            report.already_present += 1
            continue
        report.phrasings[choice] += 1
        inserts.append(
            example_row(
                cat,
                ins,
                ctx,
                resp,
                status,
                Origin.TRANSFORMED,
                source,
                ref,
                now,
                source_name=source_name,
                licence=licence,
            )
        )
    if rows and not inserts and not report.already_present and not errors:
        errors.append(
            LineError(1, f"no row has a value for every role ({report.no_value:,} without)")
        )
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportFailed(path, errors[:MAX_REPORTED_ERRORS], len(errors))
    if inserts:
        session.execute(insert(Example), inserts)
    report.added = len(inserts)
    return report
