"""The bulk of the near-duplicate index in flat arrays: token codes, postings, texts.

Built once (from the database or a large batch) in passes whose temporary arrays are a chunk's
size, so building peaks close to the finished size; saved as a snapshot directory of `.npy`
files that processes memory-map, so they start at once and share one copy in the page cache.
Texts are only read for the matches shown to people, so they always live in a file.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import tempfile
import uuid
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

# Slots per pass when building postings: bounds the temporary arrays (~80 bytes per token).
_CHUNK = 8_192
# Token codes below the UTF-16 surrogates fit in two bytes (a vocabulary under 55,296 words).
_NARROW = 0xD7FF
SNAPSHOT_VERSION = 1
_ARRAYS = ("ids", "lengths", "cats", "seq_off", "codes", "post_off", "post", "text_off")

IntArray = npt.NDArray[Any]


@dataclass
class FrozenPart:
    """Slots 0..n-1: their ids, token codes (code points) and postings by code, in arrays."""

    ids: IntArray  # int64, slot -> example id
    lengths: IntArray  # int32, tokens per slot
    cats: IntArray  # uint16, slot -> category number
    seq_off: IntArray  # int64, n + 1 offsets into codes
    codes: IntArray  # uint16 (small vocabularies) or uint32: every slot's codes in a row
    post_off: IntArray  # int64, V + 1 offsets into post, by code
    post: IntArray  # int32, per code the slots holding it, increasing
    text_off: IntArray  # int64, n + 1 offsets into the text file
    text: Any  # a read-only mmap (or b"") of UTF-8 texts
    keep: list[Any] = field(default_factory=list)  # files and buffers the arrays live in

    @property
    def n(self) -> int:
        """How many slots."""
        return len(self.ids)

    @classmethod
    def empty(cls) -> FrozenPart:
        """No slots."""
        zero = np.zeros(1, dtype=np.int64)
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int32),
            np.empty(0, np.uint16),
            zero,
            np.empty(0, np.uint32),
            zero,
            np.empty(0, np.int32),
            zero,
            b"",
        )

    def posting(self, code: int) -> IntArray:
        """Slots whose text holds `code`, increasing."""
        if code + 1 >= len(self.post_off):
            return self.post[:0]
        return self.post[self.post_off[code] : self.post_off[code + 1]]

    def posting_len(self, code: int) -> int:
        """len(posting(code)) without slicing."""
        if code + 1 >= len(self.post_off):
            return 0
        return int(self.post_off[code + 1] - self.post_off[code])

    def seq(self, slot: int) -> str:
        """A slot's token codes as a string, one character per token (what rapidfuzz scores)."""
        part = self.codes[self.seq_off[slot] : self.seq_off[slot + 1]]
        if part.dtype.itemsize == 2:
            return part.tobytes().decode("utf-16-le")
        return part.tobytes().decode("utf-32-le")

    def text_of(self, slot: int) -> str:
        """A slot's original text."""
        return bytes(self.text[self.text_off[slot] : self.text_off[slot + 1]]).decode("utf-8")


class PartBuilder:
    """Collects slots one by one (codes, ids, texts), then freezes them into a FrozenPart."""

    def __init__(self, text_file: IO[bytes]) -> None:
        self._codes = array("H")
        self._lengths = array("i")
        self._ids = array("q")
        self._cats = array("H")
        self._text_off = array("q", [0])
        self._text_file = text_file
        self._text_pos = 0

    def add(self, example_id: int, seq: str, text: str, cat: int) -> None:
        """One slot: its token codes as a string, its text and its category number."""
        if self._codes.typecode == "H":
            if not seq or max(seq) <= chr(_NARROW):
                self._codes.frombytes(seq.encode("utf-16-le"))
            else:  # the vocabulary outgrew two bytes: widen once
                self._codes = array("I", self._codes)
        if self._codes.typecode == "I":
            self._codes.frombytes(seq.encode("utf-32-le"))
        self._lengths.append(len(seq))
        self._ids.append(example_id)
        self._cats.append(cat)
        data = text.encode("utf-8")
        self._text_file.write(data)
        self._text_pos += len(data)
        self._text_off.append(self._text_pos)

    def freeze(self, vocab_size: int) -> FrozenPart:
        """The slots as flat arrays with postings (code -> increasing slots), built in chunks."""
        self._text_file.flush()
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        codes = np.frombuffer(
            self._codes, dtype=np.uint16 if self._codes.typecode == "H" else np.uint32
        )
        seq_off = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=seq_off[1:])
        width = max(vocab_size, int(codes.max()) + 1 if len(codes) else 1)
        post_off, post = build_postings(codes, seq_off, width)
        text: Any = b""
        keep: list[Any] = [self._codes, self._lengths, self._ids, self._cats, self._text_file]
        if self._text_pos:
            text = mmap.mmap(self._text_file.fileno(), 0, access=mmap.ACCESS_READ)
        return FrozenPart(
            np.frombuffer(self._ids, dtype=np.int64),
            lengths,
            np.frombuffer(self._cats, dtype=np.uint16),
            seq_off,
            codes,
            post_off,
            post,
            np.frombuffer(self._text_off, dtype=np.int64),
            text,
            keep,
        )


def _distinct_pairs(
    codes: IntArray, seq_off: IntArray, lo: int, hi: int, width: int
) -> tuple[IntArray, IntArray]:
    """(slot, code) of each distinct token of slots lo..hi-1, ordered by slot then code."""
    seg = codes[seq_off[lo] : seq_off[hi]].astype(np.int64)
    lengths = np.diff(seq_off[lo : hi + 1])
    slots = np.repeat(np.arange(lo, hi, dtype=np.int64), lengths)
    keys = slots * width + seg
    keys.sort()
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys // width, keys % width


def build_postings(codes: IntArray, seq_off: IntArray, width: int) -> tuple[IntArray, IntArray]:
    """Postings in CSR form by a two-pass counting sort over chunks of slots: the only big
    allocation is the result itself."""
    n = len(seq_off) - 1
    counts = np.zeros(width, dtype=np.int64)
    for lo in range(0, n, _CHUNK):
        _, code = _distinct_pairs(codes, seq_off, lo, min(n, lo + _CHUNK), width)
        counts += np.bincount(code, minlength=width)
    post_off = np.zeros(width + 1, dtype=np.int64)
    np.cumsum(counts, out=post_off[1:])
    post = np.empty(int(post_off[-1]), dtype=np.int32)
    cursor = post_off[:-1].copy()
    for lo in range(0, n, _CHUNK):
        slot, code = _distinct_pairs(codes, seq_off, lo, min(n, lo + _CHUNK), width)
        order = np.argsort(code, kind="stable")  # slots stay increasing within a code
        code, slot = code[order], slot[order]
        starts = np.concatenate(([True], code[1:] != code[:-1])) if len(code) else code
        group_start = np.maximum.accumulate(np.where(starts, np.arange(len(code)), 0))
        post[cursor[code] + (np.arange(len(code)) - group_start)] = slot
        cursor += np.bincount(code, minlength=width)
    return post_off, post


def new_text_file(directory: Path | None = None) -> IO[bytes]:
    """A file for texts: in a snapshot directory, or an anonymous temporary file."""
    if directory is not None:
        return (directory / "texts.bin").open("w+b")
    return tempfile.TemporaryFile(prefix="crowdtune-dedup-")


def save(part: FrozenPart, directory: Path, meta: dict[str, Any]) -> None:
    """Write the arrays (the texts are already in directory/texts.bin) and meta.json."""
    for name in _ARRAYS:
        np.save(directory / f"{name}.npy", getattr(part, name), allow_pickle=False)
    meta = {**meta, "version": SNAPSHOT_VERSION}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def load(directory: Path) -> tuple[FrozenPart, dict[str, Any]]:
    """A snapshot's arrays, memory-mapped read-only, and its meta."""
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    if meta.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"{directory}: snapshot version {meta.get('version')} is not supported")
    arrays = {n: np.load(directory / f"{n}.npy", mmap_mode="r") for n in _ARRAYS}
    fh = (directory / "texts.bin").open("rb")
    size = os.fstat(fh.fileno()).st_size
    text: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    return FrozenPart(**arrays, text=text, keep=[fh]), meta


def publish(built: Path, final: Path) -> None:
    """Point `final` (a symlink) at a finished snapshot directory in one atomic rename;
    processes that mapped the previous one keep reading it until they let go."""
    previous = final.resolve() if final.is_symlink() else None
    link = final.with_name(f"{final.name}.link-{uuid.uuid4().hex[:8]}")
    link.symlink_to(built.name)
    if final.exists() and not final.is_symlink():
        shutil.rmtree(final)
    link.replace(final)
    if previous is not None and previous != built.resolve():
        shutil.rmtree(previous, ignore_errors=True)
