"""A large import's within-file near-duplicate pairs, found on a second core beside its insert.

In the default report mode the rows go in unchanged, so the insert need not wait for the
scan, which runs beside it on another core. For a file of a megabyte or more, on a
machine with a second core, `pair_join.batch_pairs` runs in a Python process of its own
(`python -m store.quality.pairs_worker`), started when the import begins so that it loads
numpy, rapidfuzz and pyarrow while the file is parsed. It reads the texts from a temporary
file it inherits (each text's size in bytes, then the texts back to back in UTF-8: no JSON
string to escape and parse per text) once a JSON line on stdin gives the threshold and their
count, and writes JSON lines on stdout (progress, then an error or the pairs' count followed
by their three arrays' bytes). It runs at a lower CPU priority than the importer, whose
insert keeps its core. It touches no database; if it fails or dies, the importer finds the
pairs itself (the same answer, later).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from store.quality.pair_join import BatchPairs, batch_pairs, usable_cores

# The answer's arrays after its count: i, j (the pair's texts, by position) and ROUGE-L F1.
_ARRAYS: tuple[type[np.generic], ...] = (np.int64, np.int64, np.float64)
# A progress message older than this (seconds; CLOCK_MONOTONIC is one clock for all
# processes) waited in the pipe while the importer was writing rows.
_STALE_S = 0.05
# A text may hold a lone surrogate (JSON allows "\ud800"): it crosses the pipe as it is.
_LONE_SURROGATES = "surrogatepass"
# The worker's interpreter arguments: this module's main().
_COMMAND = ("-m", "store.quality.pairs_worker")
# How much lower than the importer's the worker's CPU priority is (os.nice).
_NICENESS = 10
# Below this file size the scan takes well under a second: a second process isn't worth it.
MIN_FILE_BYTES = 1 << 20


class ScanWorkerFailed(RuntimeError):
    """The process finding the pairs failed or died."""


class PairsWorker:
    """A process that finds one batch's `batch_pairs`: `submit` the texts, then `result`."""

    def __init__(self) -> None:
        # The child imports `store` from where this process did, installed or not.
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        # What it prints on stderr (a crash's traceback) is kept for the failure's message,
        # not shown on the importer's terminal.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        # The texts go through a file it inherits, not the pipe: writing them never waits
        # for the worker to read (it may still be loading its libraries).
        self._batch = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._process = subprocess.Popen(  # noqa: S603  (our interpreter, our module)
            [sys.executable, *_COMMAND, str(self._batch.fileno())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            env=env,
            pass_fds=(self._batch.fileno(),),
        )
        self.submitted: list[str] | None = None  # the texts it works on
        self._total = 0

    @classmethod
    def for_import(cls, path: Path, mode: str) -> PairsWorker | None:
        """A worker for importing `path` when one pays: report mode, a large file, 2+ cores."""
        if mode != "report" or usable_cores() < 2 or path.stat().st_size < MIN_FILE_BYTES:
            return None
        if os.name != "posix":  # (no file descriptors to hand down)
            return None
        try:
            return cls()
        except OSError:  # no process to be had (limits, memory): the importer scans alone
            return None

    def submit(self, texts: Sequence[str], threshold: float) -> None:
        """Start finding the pairs of `texts` at `threshold` (waits until the worker reads)."""
        self.submitted = list(texts)
        self._total = len(texts)
        stdin = self._process.stdin
        assert stdin is not None
        # Text by text: an ASCII text encodes as a copy, where one string of them all would
        # be as wide as its widest character (5x slower for a 15k-row file).
        encoded = [t.encode("utf-8", _LONE_SURROGATES) for t in self.submitted]
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        try:
            self._batch.write(sizes.tobytes())
            self._batch.write(b"".join(encoded))
            self._batch.flush()
        except OSError:  # no room for them (a full disk): it gets nothing, `result` says so
            head = b""
        else:  # one short line: the pipe takes it at once
            head = json.dumps({"threshold": threshold, "texts": len(encoded)}).encode()
        try:
            stdin.write(head)
            stdin.close()
        except OSError:  # it died starting (e.g. out of memory): `result` says so
            pass

    def result(self, progress: Callable[[int, int], None] | None = None) -> BatchPairs:
        """The pairs of the submitted texts, telling `progress` how far the worker got."""
        stdout = self._process.stdout
        assert stdout is not None
        try:
            for line in stdout:
                message = json.loads(line)
                if "done" in message:
                    # Skip what piled up while the caller was busy: a bar shows the rate of
                    # what it sees, not a burst of old news.
                    fresh = time.monotonic() - float(message["at"]) < _STALE_S
                    if progress is not None and fresh:
                        progress(min(int(message["done"]), self._total), self._total)
                elif "pairs" in message:
                    n = int(message["pairs"])
                    i, j, score = (_read(stdout, n, dtype) for dtype in _ARRAYS)
                    return BatchPairs(i, j, score)
                else:
                    raise ScanWorkerFailed(f"the near-duplicate scan failed: {message['error']}")
        except (ValueError, KeyError, OSError) as exc:  # a torn answer: it died writing
            raise ScanWorkerFailed(f"the near-duplicate scan answered badly: {exc}") from exc
        code = self._process.wait()
        raise ScanWorkerFailed(
            f"the near-duplicate scan stopped before answering (exit {code}){self._last_error()}"
        )

    def _last_error(self) -> str:
        """The last line the worker wrote on stderr, as ': line' (or nothing)."""
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def close(self) -> None:
        """Stop the process (at once if it is still working)."""
        if self._process.poll() is None:
            self._process.kill()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                # (a dead worker's stdin may still hold what it never read: nothing to flush)
                with contextlib.suppress(OSError):
                    stream.close()
        self._process.wait()
        self._errors.close()
        self._batch.close()

    def __enter__(self) -> PairsWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _read(stream: IO[bytes], n: int, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """`n` values of `dtype`, as written by the worker."""
    size = n * np.dtype(dtype).itemsize
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"{len(data)} of {size} bytes")
    return np.frombuffer(data, dtype=dtype).copy()


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def main() -> None:
    """The worker: load the scan's libraries, read one batch, answer on stdout."""
    # Ctrl-C reaches the whole process group: the importer stops this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The insert beside it is what the user waits for: the scan's threads take the cores it
    # leaves idle, not a share of its own.
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)
    # Answers go to the real stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from store.quality import token_stream  # noqa: F401  (pyarrow: loaded while the parent parses)

    head = sys.stdin.buffer.readline()
    if not head:  # the import ended (an error, no rows) without submitting
        return
    try:
        batch = json.loads(head)
        with os.fdopen(int(sys.argv[1]), "rb") as source:  # (the descriptor handed down)
            source.seek(0)  # (its offset is shared with the importer, which wrote it)
            sizes = np.frombuffer(source.read(8 * int(batch["texts"])), dtype=np.int64)
            data = memoryview(source.read())
        ends = itertools.accumulate(sizes.tolist())
        texts = [
            str(data[a:z], "utf-8", _LONE_SURROGATES)
            for a, z in itertools.pairwise(itertools.chain([0], ends))
        ]
        del data

        def tell(done: int, _total: int) -> None:
            _send(out, {"done": done, "at": time.monotonic()})

        pairs = batch_pairs(texts, batch["threshold"], tell)
    except Exception as exc:  # sent back; the importer finds the pairs itself
        _send(out, {"error": f"{type(exc).__name__}: {exc}"})
    else:
        _send(out, {"pairs": len(pairs.i)})
        for array, dtype in zip((pairs.i, pairs.j, pairs.score), _ARRAYS, strict=True):
            out.write(np.ascontiguousarray(array, dtype=dtype).tobytes())
    out.close()


if __name__ == "__main__":
    # The importer went away (its pipe closed): nothing to tell anyone.
    with contextlib.suppress(BrokenPipeError):
        main()
