"""The bulk of the near-duplicate index in flat arrays: token codes, postings, texts.

Slots are ordered by length (token count), so every posting list is ordered by length too: a
query reads, per token, only the slice whose lengths can still reach its threshold (two binary
searches). Built once (from the database or a large batch) in passes whose temporary arrays
are a chunk's size, so building peaks close to the finished size; saved as a snapshot
directory of `.npy` files that processes memory-map, so they start at once and share one copy
in the page cache. Texts are only read for the matches shown to people, so they always live
in a file.
"""

from __future__ import annotations

import bisect
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

# Tokens per pass when building postings: bounds the temporary arrays (~80 bytes per token).
# (Counted in tokens, not slots: slots are ordered by length, so the last ones are the longest.)
_CHUNK_TOKENS = 1 << 18
# Token codes below the UTF-16 surrogates fit in two bytes (a vocabulary under 55,296 words).
_NARROW = 0xD7FF
# 2: slots ordered by length, rows reached through `rank`, ids through `by_id`.
SNAPSHOT_VERSION = 2
_ARRAYS = (
    "ids",
    "lengths",
    "cats",
    "rank",
    "by_id",
    "seq_off",
    "codes",
    "post_off",
    "post",
    "text_off",
)

IntArray = npt.NDArray[Any]


@dataclass
class FrozenPart:
    """Slots 0..n-1 in order of length: their ids, token codes (code points) and postings by
    code, in arrays. Codes and texts stay in the order rows were added (`rank` maps to it)."""

    ids: IntArray  # int64, slot -> example id (unique)
    lengths: IntArray  # int32, tokens per slot, nondecreasing
    cats: IntArray  # uint16, slot -> category number
    rank: IntArray  # int32, slot -> row (the order slots were added in)
    by_id: IntArray  # int32, the slots in order of id
    seq_off: IntArray  # int64, rows + 1 offsets into codes
    codes: IntArray  # uint16 (small vocabularies) or uint32: every slot's codes in a row
    post_off: IntArray  # int64, V + 1 offsets into post, by code
    post: IntArray  # int32, per code the slots holding it, increasing
    text_off: IntArray  # int64, rows + 1 offsets into the text file
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
            np.empty(0, np.int32),
            np.empty(0, np.int32),
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

    def length_slots(self, lo: int, hi: int) -> tuple[int, int]:
        """The slots holding lo..hi tokens: a range, as slots are ordered by length."""
        # Values of the array's own type: searching with others would convert the whole array.
        bounds = np.array((lo, hi), dtype=self.lengths.dtype)
        return (
            int(np.searchsorted(self.lengths, bounds[0], side="left")),
            int(np.searchsorted(self.lengths, bounds[1], side="right")),
        )

    def posting_in(self, code: int, first: int, end: int) -> IntArray:
        """The part of posting(code) within slots first..end-1 (two binary searches)."""
        whole = self.posting(code)
        a, b = np.searchsorted(whole, np.array((first, end), dtype=whole.dtype))
        return whole[a:b]

    def slot_of_id(self, example_id: int) -> int | None:
        """The slot holding this id, if any (a binary search through `by_id`)."""
        ids, by_id = self.ids, self.by_id
        pos = bisect.bisect_left(range(self.n), example_id, key=lambda i: int(ids[by_id[i]]))
        if pos < self.n and int(ids[by_id[pos]]) == example_id:
            return int(by_id[pos])
        return None

    def posting_len(self, code: int) -> int:
        """len(posting(code)) without slicing."""
        if code + 1 >= len(self.post_off):
            return 0
        return int(self.post_off[code + 1] - self.post_off[code])

    def seq(self, slot: int) -> str:
        """A slot's token codes as a string, one character per token (what rapidfuzz scores)."""
        row = self.rank[slot]
        part = self.codes[self.seq_off[row] : self.seq_off[row + 1]]
        if part.dtype.itemsize == 2:
            return part.tobytes().decode("utf-16-le")
        return part.tobytes().decode("utf-32-le")

    def seqs(self, slots: IntArray) -> list[str]:
        """`seq` of several slots, with one gather and one decode for all of them."""
        if not len(slots):
            return []
        rows = self.rank[slots]
        starts = self.seq_off[rows]
        lengths = self.seq_off[rows + 1] - starts
        run = self.codes[spans(starts, lengths)].tobytes()
        joined = run.decode("utf-16-le" if self.codes.dtype.itemsize == 2 else "utf-32-le")
        ends = np.cumsum(lengths).tolist()
        return [joined[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    def text_of(self, slot: int) -> str:
        """A slot's original text."""
        row = self.rank[slot]
        return bytes(self.text[self.text_off[row] : self.text_off[row + 1]]).decode("utf-8")


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
        """The slots as flat arrays, ordered by length, with postings (code -> increasing
        slots) built in chunks. Of rows added with the same id, the last one is kept."""
        self._text_file.flush()
        row_lengths = np.frombuffer(self._lengths, dtype=np.int32)
        row_ids = np.frombuffer(self._ids, dtype=np.int64)
        codes = np.frombuffer(
            self._codes, dtype=np.uint16 if self._codes.typecode == "H" else np.uint32
        )
        seq_off = np.zeros(len(row_lengths) + 1, dtype=np.int64)
        np.cumsum(row_lengths, out=seq_off[1:])
        by_row_id = np.argsort(row_ids, kind="stable")
        sorted_ids = row_ids[by_row_id]
        last = np.ones(len(sorted_ids), dtype=bool)
        last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
        kept = np.sort(by_row_id[last])
        rank = kept[np.argsort(row_lengths[kept], kind="stable")].astype(np.int32)
        del by_row_id, sorted_ids, last, kept
        ids = row_ids[rank]
        width = max(vocab_size, int(codes.max()) + 1 if len(codes) else 1)
        post_off, post = build_postings(codes, seq_off, rank, width)
        text: Any = b""
        keep: list[Any] = [self._codes, self._text_file]  # the other arrays were copied
        if self._text_pos:
            text = mmap.mmap(self._text_file.fileno(), 0, access=mmap.ACCESS_READ)
        return FrozenPart(
            ids,
            row_lengths[rank],
            np.frombuffer(self._cats, dtype=np.uint16)[rank],
            rank,
            np.argsort(ids).astype(np.int32),
            seq_off,
            codes,
            post_off,
            post,
            np.frombuffer(self._text_off, dtype=np.int64),
            text,
            keep,
        )


def spans(starts: IntArray, lengths: IntArray) -> IntArray:
    """The positions starts[i] .. starts[i] + lengths[i] - 1 for every i, in a row."""
    # Each position, shifted by where its span begins in `codes` minus where in the result.
    shift = starts - (np.cumsum(lengths) - lengths)
    positions: IntArray = np.arange(int(lengths.sum()), dtype=np.int64)
    positions += np.repeat(shift, lengths)
    return positions


def _distinct_pairs(
    codes: IntArray, seq_off: IntArray, rank: IntArray, lo: int, hi: int, width: int
) -> tuple[IntArray, IntArray]:
    """(slot, code) of each distinct token of slots lo..hi-1, ordered by slot then code."""
    rows = rank[lo:hi]
    starts = seq_off[rows]
    lengths = seq_off[rows + 1] - starts
    seg = codes[spans(starts, lengths)].astype(np.int64)
    slots = np.repeat(np.arange(lo, hi, dtype=np.int64), lengths)
    keys = slots * width + seg
    keys.sort()
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys // width, keys % width


def _chunks(seq_off: IntArray, rank: IntArray) -> list[tuple[int, int]]:
    """Consecutive slot ranges holding up to _CHUNK_TOKENS tokens each (at least one slot)."""
    ends = np.cumsum(seq_off[rank + 1] - seq_off[rank])
    out: list[tuple[int, int]] = []
    lo, done = 0, 0
    while lo < len(rank):
        hi = max(lo + 1, int(np.searchsorted(ends, done + _CHUNK_TOKENS, side="right")))
        out.append((lo, hi))
        lo, done = hi, int(ends[hi - 1])
    return out


def build_postings(
    codes: IntArray, seq_off: IntArray, rank: IntArray, width: int
) -> tuple[IntArray, IntArray]:
    """Postings in CSR form by a two-pass counting sort over chunks of slots (slot s holds row
    rank[s]): the only big allocation is the result itself."""
    chunks = _chunks(seq_off, rank)
    counts = np.zeros(width, dtype=np.int64)
    for lo, hi in chunks:
        _, code = _distinct_pairs(codes, seq_off, rank, lo, hi, width)
        counts += np.bincount(code, minlength=width)
    post_off = np.zeros(width + 1, dtype=np.int64)
    np.cumsum(counts, out=post_off[1:])
    post = np.empty(int(post_off[-1]), dtype=np.int32)
    cursor = post_off[:-1].copy()
    for lo, hi in chunks:
        slot, code = _distinct_pairs(codes, seq_off, rank, lo, hi, width)
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
    # Plain views of the maps: slicing a np.memmap costs a Python hook per slice.
    arrays = {n: np.load(directory / f"{n}.npy", mmap_mode="r").view(np.ndarray) for n in _ARRAYS}
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
