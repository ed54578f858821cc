"""Time and peak memory of `crowdtune import` against a plain DB-API `executemany` baseline.

    python -m bench.import_bench [--datasets dolly15k,alpaca52k] [--dbs sqlite,postgresql]
                                 [--near-duplicates report,off] [--repeat 3] [--work DIR]

For each stand-in (see `bench.datasets`: a Dolly-15k-sized Dolly JSONL and an
Alpaca-52k-sized Alpaca JSON, both built from the shared T0 file) and each database, every
run gets a fresh, migrated database (a SQLite file; a throw-away PostgreSQL database) and a
subprocess of its own, so peak memory (VmHWM, that process's resident high-water mark)
is not polluted by earlier runs. Both sides go from the file on disk to committed rows:

- crowdtune: `crowdtune import PATH --near-duplicates MODE` through the real entrypoint
  (`bot.cli.main`): settings, engine, parsing, validation, idempotency lookup, insert,
  commit, and with `report` (the command's default) the ROUGE-L near-duplicate scan of
  every record against the corpus and the file's earlier records. `off` is the same work
  as the baseline's plus validation; `report` is what a user gets by default.
  (Both sides import the same modules before the clock starts.)
- baseline: the same file parsed with `json`, the same row values (category id, stripped
  text, content hash, source reference, timestamps), one `executemany` INSERT with sqlite3
  or psycopg in one transaction. No validation, no error reporting: the floor.

After each run the rows are fingerprinted (source_ref, category, the three texts, status,
origin, content_hash), so the table also proves both sides wrote identical rows.
`cpu` is the CPU time of the importing process and of the process a large import scans its
own rows in, beside the insert (store/quality/pairs_worker.py); steadier than wall time on a
busy machine, but it leaves out the PostgreSQL server's work. `base ins s` is the part of the
baseline's wall time spent in INSERT + COMMIT (the rest is reading and preparing rows).
Memory is the importing process's peak plus that scan process's peak (an upper bound of what
both held at once); `+MB` is that minus the importer's size when the import started
(interpreter and imports). Seconds are the
best of `--repeat` runs (the machine is shared); memory is the largest peak seen. Targets
(issues 2 and 12): crowdtune's default mode (`report`) within 2x of the baseline, the
Dolly-15k-sized file under 3 s on SQLite. The first row of each dataset/database is that
default mode; the `headline` line at the end repeats it for Dolly-15k on SQLite, and the
`near-duplicate check` lines put what the check adds (report minus off) beside the
baseline's INSERT + COMMIT, which issue 12 asks it not to exceed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get(
    "CROWDTUNE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATASETS = ("dolly15k", "alpaca52k")
DBS = ("sqlite", "postgresql")
COLUMNS = (
    "category_id, instruction, context, response, status, origin, content_hash, source, "
    "source_ref, flags, revision, review_count, created_at, updated_at, decided_at"
)
TARGET_RATIO = 2.0
TARGET_DOLLY_SQLITE_S = 3.0


@dataclass(frozen=True)
class Run:
    """One measured import: wall seconds of the import call and memory of its process."""

    seconds: float
    cpu_s: float  # CPU of the importing process only (not PostgreSQL's server processes)
    insert_s: float | None  # baseline only: the INSERT + COMMIT part of `seconds`
    peak_mb: float
    start_mb: float
    rows: int
    fingerprint: str


# --- child side: runs in its own process ------------------------------------------------


def _rss_mb() -> float:
    # Current resident set, from /proc: the process's memory before the import starts.
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    # VmHWM is this process's own high-water mark. ru_maxrss is not: after fork+exec Linux
    # carries the parent's peak over, so every child would report the parent's size.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status: this bench measures memory on Linux")


def _children_cpu_s() -> float:
    """CPU of this process's ended children (the import's scan worker, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _WorkerPeaks(threading.Thread):
    """The largest VmHWM among this process's children (the import's scan worker), looked
    at every 20 ms while they live: added to the importer's own peak, an upper bound of what
    the two held at once."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.wait(0.02):
            for kid in me.children(recursive=True):
                with contextlib.suppress(OSError):  # it may end between the listing and this
                    status = Path(f"/proc/{kid.pid}/status").read_text()
                    kb = next(int(x.split()[1]) for x in status.splitlines() if "VmHWM" in x)
                    self.peak_mb = max(self.peak_mb, kb / 1024)

    def __enter__(self) -> _WorkerPeaks:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join()


def _crowdtune_import(url: str, path: Path, fmt: str, mode: str) -> float | None:
    from bot.cli import main

    os.environ["DATABASE_URL"] = url
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["import", str(path), "--format", fmt, "--near-duplicates", mode])
    if code != 0:
        raise SystemExit(f"crowdtune import failed with {code}: {out.getvalue()}")
    return None  # the importer's phases are not separable from outside


def _baseline_rows(path: Path, fmt: str, category_ids: dict[str, int]) -> list[tuple[Any, ...]]:
    from store.importing import infer_category
    from store.validation import content_hash

    if fmt == "dolly":
        with path.open(encoding="utf-8") as fh:
            numbered = [(n, json.loads(line)) for n, line in enumerate(fh, 1) if line.strip()]
        records = [
            (f"line {n}", o["instruction"], o.get("context") or "", o["response"], o["category"])
            for n, o in numbered
        ]
    else:
        items = json.loads(path.read_text(encoding="utf-8"))
        records = [
            (
                f"item {n}",
                o["instruction"],
                o.get("input") or "",
                o["output"],
                infer_category(o["instruction"], o.get("input") or ""),
            )
            for n, o in enumerate(items, 1)
        ]
    rows = []
    for ref, ins, ctx, resp, cat in records:
        ins, ctx, resp = ins.strip(), ctx.strip(), resp.strip()
        rows.append(
            (
                category_ids[cat],
                ins,
                ctx,
                resp,
                "approved",
                "imported",
                content_hash(ins, ctx, resp),
                path.name,
                ref,
                "[]",
                1,
                0,
            )
        )
    return rows


def _baseline_import(url: str, path: Path, fmt: str) -> float:
    """Insert the file's rows with plain DB-API; return the seconds of the INSERT + COMMIT."""
    from datetime import UTC, datetime

    parsed = make_url(url)
    now = datetime.now(UTC)
    if parsed.get_backend_name() == "sqlite":
        import sqlite3

        conn = sqlite3.connect(str(parsed.database), isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # what crowdtune's engine sets too
        ids = dict(conn.execute("SELECT slug, id FROM categories").fetchall())
        # SQLAlchemy's SQLite DateTime format for the naive UTC value UTCDateTime stores.
        stamp: Any = now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        rows = [(*r, stamp, stamp, stamp) for r in _baseline_rows(path, fmt, ids)]
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO examples ({COLUMNS}) VALUES ({', '.join('?' * 15)})", rows)
        conn.execute("COMMIT")
        insert_s = time.perf_counter() - started
        conn.close()
        return insert_s
    import psycopg

    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as pg:
        ids = dict(pg.execute("SELECT slug, id FROM categories").fetchall())
        rows = [(*r, now, now, now) for r in _baseline_rows(path, fmt, ids)]
        started = time.perf_counter()
        with pg.cursor() as cur:
            cur.executemany(
                f"INSERT INTO examples ({COLUMNS}) VALUES ({', '.join(['%s'] * 15)})", rows
            )
        pg.commit()
        return time.perf_counter() - started


def child(side: str, url: str, path: Path, fmt: str) -> None:
    """Run one import in this process and print its figures as one JSON line.

    `side` is `baseline` or `crowdtune:MODE` (MODE: the --near-duplicates mode).
    """
    # Both sides load the same modules before the clock starts: the figures are the import's
    # work, not Python loading libraries (which `crowdtune` pays once per command).
    import sqlite3  # noqa: F401

    import psycopg  # noqa: F401

    import bot.cli
    import bot.progress  # noqa: F401  (the CLI loads its commands' libraries lazily)
    import store.importing
    import store.quality.token_stream  # noqa: F401  (pyarrow, loaded lazily by the scan)

    start_mb = _rss_mb()
    children_started = _children_cpu_s()
    started, cpu_started = time.perf_counter(), time.process_time()
    with _WorkerPeaks() as workers:
        if side == "baseline":
            insert_s: float | None = _baseline_import(url, path, fmt)
        else:
            insert_s = _crowdtune_import(url, path, fmt, side.partition(":")[2])
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    figures = {
        "seconds": seconds,
        "cpu_s": cpu_s + _children_cpu_s() - children_started,
        "insert_s": insert_s,
        "peak_mb": _peak_mb() + workers.peak_mb,
        "start_mb": start_mb,
    }
    print(json.dumps(figures))


# --- parent side ----------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, work: Path) -> Iterator[str]:
    """A new, migrated database with the default categories; yields its URL."""
    from migrations import runner
    from store.categories import seed_default_categories
    from store.db import make_engine, make_session_factory, session_scope

    admin = None
    if kind == "sqlite":
        url = f"sqlite:///{work / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    else:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"crowdtune_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        runner.upgrade(url)
        engine = make_engine(url)
        with session_scope(make_session_factory(engine)) as s:
            seed_default_categories(s)
        engine.dispose()
        yield url
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(str(make_url(url).database) + suffix).unlink(missing_ok=True)


def fingerprint(url: str) -> tuple[int, str]:
    """Row count and a digest of what was written, to prove both sides wrote the same rows."""
    engine = create_engine(url)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.source_ref, c.slug, e.instruction, e.context, e.response, e.status, "
                "e.origin, e.content_hash "
                "FROM examples e JOIN categories c ON c.id = e.category_id "
                "ORDER BY e.source_ref"
            )
        ).all()
    engine.dispose()
    for row in rows:
        digest.update("\x1f".join(map(str, row)).encode() + b"\n")
    return len(rows), digest.hexdigest()[:12]


def measure(side: str, kind: str, path: Path, fmt: str, work: Path) -> Run:
    """One run of `side` on a fresh database of `kind`, in a subprocess."""
    with fresh_database(kind, work) as url:
        out = subprocess.run(
            [sys.executable, "-m", "bench.import_bench", "--child", side, url, str(path), fmt],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
        if out.returncode != 0:
            raise SystemExit(f"{side} run failed:\n{out.stdout}\n{out.stderr}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        rows, digest = fingerprint(url)
    return Run(
        figures["seconds"],
        figures["cpu_s"],
        figures["insert_s"],
        figures["peak_mb"],
        figures["start_mb"],
        rows,
        digest,
    )


def best(runs: Sequence[Run]) -> Run:
    """Fastest time and largest memory of repeated runs (all must agree on the rows)."""
    if len({(r.rows, r.fingerprint) for r in runs}) != 1:
        raise SystemExit(f"runs wrote different rows: {runs}")
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(
        fastest.seconds,
        min(r.cpu_s for r in runs),
        fastest.insert_s,
        max(r.peak_mb for r in runs),
        max(r.start_mb for r in runs),
        fastest.rows,
        fastest.fingerprint,
    )


def write_dataset(name: str, work: Path) -> tuple[Path, str]:
    """Write the stand-in called `name` into `work`; return its path and format."""
    from bench import datasets as ds

    rows = ds.t0_rows()
    if name == "dolly15k":
        recs = ds.t0_dolly(ds.spread(rows, ds.DOLLY_15K_ROWS))
        return ds.write_jsonl(recs, work / "dolly-15k-standin.jsonl"), "dolly"
    recs = ds.t0_alpaca(ds.spread(rows, ds.ALPACA_52K_ROWS))
    return ds.write_json_array(recs, work / "alpaca-52k-standin.json"), "alpaca"


def _check_cost(tag: str, chosen: dict[str, Run], baseline: Run) -> str:
    """The near-duplicate check's cost (report minus off, wall and CPU) against the
    baseline's INSERT + COMMIT: issue 12 asks that it cost no more than the insert."""
    wall = chosen["report"].seconds - chosen["off"].seconds
    cpu = chosen["report"].cpu_s - chosen["off"].cpu_s
    insert = baseline.insert_s or 0.0
    verdict = "<=" if wall <= insert else ">"
    return (
        f"near-duplicate check on {tag}: report - off = {wall:.2f} s wall {verdict} "
        f"baseline INSERT + COMMIT {insert:.2f} s (and {cpu:.2f} s more CPU time)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the matrix and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_bench")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--dbs", default=",".join(DBS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--near-duplicates",
        default="report,off",
        help="comma-separated `crowdtune import --near-duplicates` modes to measure "
        "(report is the default of the command; the baseline never checks)",
    )
    parser.add_argument("--work", type=Path, help="folder for stand-ins and SQLite files")
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "URL", "PATH", "FORMAT"))
    args = parser.parse_args(argv)
    if args.child:
        side, url, path, fmt = args.child
        child(side, url, Path(path), fmt)
        return 0
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cols = (
            ("dataset", 10), ("db", 11), ("near-dups", 10), ("rows", 7), ("ct s", 8),
            ("base s", 8), ("ratio", 7), ("ct cpu", 8), ("base cpu", 9), ("cpu ratio", 10),
            ("base ins s", 11), ("ct MB", 7), ("base MB", 8), ("ct +MB", 7), ("base +MB", 9),
        )  # fmt: skip
        header = "".join(f"{n:<{w}}" if i < 3 else f"{n:>{w}}" for i, (n, w) in enumerate(cols))
        print(
            f"python {sys.version.split()[0]}, best of {args.repeat} runs, os.cpu_count()="
            f"{os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at start"
        )
        print(header)
        print("-" * len(header))
        verdicts: list[str] = []
        checks: list[str] = []
        headline = ""
        modes = args.near_duplicates.split(",")
        for name in args.datasets.split(","):
            path, fmt = write_dataset(name, work)
            for kind in args.dbs.split(","):
                runs: dict[str, list[Run]] = {m: [] for m in ["baseline", *modes]}
                for _ in range(args.repeat):  # interleaved, so load spikes hit every side
                    runs["baseline"].append(measure("baseline", kind, path, fmt, work))
                    for mode in modes:
                        runs[mode].append(measure(f"crowdtune:{mode}", kind, path, fmt, work))
                b = best(runs["baseline"])
                chosen = {mode: best(runs[mode]) for mode in modes}
                for mode in modes:
                    c = chosen[mode]
                    if (c.rows, c.fingerprint) != (b.rows, b.fingerprint):
                        raise SystemExit(f"{name}/{kind}: crowdtune and baseline rows differ")
                    ratio = c.seconds / b.seconds
                    cells = (
                        name, kind, mode, f"{c.rows}", f"{c.seconds:.2f}", f"{b.seconds:.2f}",
                        f"{ratio:.2f}", f"{c.cpu_s:.2f}", f"{b.cpu_s:.2f}",
                        f"{c.cpu_s / b.cpu_s:.2f}", f"{b.insert_s or 0:.2f}", f"{c.peak_mb:.0f}",
                        f"{b.peak_mb:.0f}", f"{c.peak_mb - c.start_mb:.0f}",
                        f"{b.peak_mb - b.start_mb:.0f}",
                    )  # fmt: skip
                    print(
                        "".join(
                            f"{v:<{w}}" if i < 3 else f"{v:>{w}}"
                            for i, (v, (_, w)) in enumerate(zip(cells, cols, strict=True))
                        ),
                        flush=True,
                    )
                    tag = f"{name}/{kind}/{mode}"
                    ok = ratio <= TARGET_RATIO
                    verdicts.append(f"{tag}: ratio {ratio:.2f} {'<=' if ok else '>'} 2.0")
                    if name == "dolly15k" and kind == "sqlite" and mode == modes[0]:
                        headline = (
                            f"headline (crowdtune import's default, --near-duplicates {mode}): "
                            f"dolly15k/sqlite {c.seconds:.2f} s vs baseline {b.seconds:.2f} s, "
                            f"ratio {ratio:.2f} (cpu {c.cpu_s:.2f} s vs {b.cpu_s:.2f} s)"
                        )
                    if name == "dolly15k" and kind == "sqlite":
                        ok_s = c.seconds < TARGET_DOLLY_SQLITE_S
                        verdicts.append(f"{tag}: {c.seconds:.2f} s {'<' if ok_s else '>='} 3.0 s")
                if name == "dolly15k" and {"report", "off"} <= set(chosen):
                    checks.append(_check_cost(f"{name}/{kind}", chosen, b))
        if headline:
            print(headline)
        for line in checks:
            print(line)
        print(f"load average {os.getloadavg()[0]:.2f} at end")
        print("rows identical on both sides (digest of source_ref, category, texts, status, hash)")
        print("targets: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
