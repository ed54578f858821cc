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
_MIN_CHUNK_TOKENS = 1 << 12
# The codes held by the most slots (the last ones in `order`) also have one bit per slot in
# `common`: testing a slot for one is a shift, not a search through a posting of most slots.
COMMON_BITS = 32
# head_pos is stored in one byte: larger positions are stored as this (a lower bound).
POS_CAP = 255
# Token codes below the UTF-16 surrogates fit in two bytes (a vocabulary under 55,296 words).
_NARROW = 0xD7FF
# 2: slots ordered by length, rows reached through `rank`, ids through `by_id`.
# 3: postings split into heads (the code is in the slot's prefix under `order`), with the
# code's position in that order, and tails.
SNAPSHOT_VERSION = 3
# The lowest threshold the heads are cut for: a query at a threshold at least this reads heads
# only to find its candidates (below it, heads and tails).
PREFIX_THRESHOLD = 0.7
_ARRAYS = (
    "ids",
    "lengths",
    "cats",
    "rank",
    "by_id",
    "seq_off",
    "codes",
    "order",
    "head_off",
    "head",
    "head_pos",
    "tail_off",
    "tail",
    "common",
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
    seq_off: IntArray  # int32 (int64 for over 2^31 tokens), rows + 1 offsets into codes
    codes: IntArray  # uint16 (small vocabularies) or uint32: every slot's codes in a row
    # int32, code -> its place in the one total order of the codes the part was frozen with
    # (fewest slots first, then by code): a slot's prefix is its first tokens in that order.
    order: IntArray
    head_off: IntArray  # int64, V + 1 offsets into head, by code
    head: IntArray  # int32, per code the slots holding it in their prefix, increasing
    # uint8, per head entry how many of the slot's tokens come before the code's first
    # occurrence in `order` (at most POS_CAP: a lower bound, which keeps filters sound)
    head_pos: IntArray
    tail_off: IntArray  # int64, V + 1 offsets into tail, by code
    tail: IntArray  # int32, per code the other slots holding it, increasing
    # uint32, per slot COMMON_BITS / 32 words: bit b (of word b // 32) set when it holds the
    # code whose place is len(order) - 1 - b
    common: IntArray
    text_off: IntArray  # int32 (int64 past 2 GB of text), rows + 1 offsets into the text file
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
            np.empty(0, np.int32),
            zero,
            np.empty(0, np.int32),
            np.empty(0, np.uint8),
            zero,
            np.empty(0, np.int32),
            np.empty((0, COMMON_BITS // 32), np.uint32),
            zero,
            b"",
        )

    def head_posting(self, code: int) -> IntArray:
        """Slots holding `code` among the first prefix_length(n) of their n tokens in `order`."""
        if code + 1 >= len(self.head_off):
            return self.head[:0]
        return self.head[self.head_off[code] : self.head_off[code + 1]]

    def tail_posting(self, code: int) -> IntArray:
        """The other slots holding `code`, increasing."""
        if code + 1 >= len(self.tail_off):
            return self.tail[:0]
        return self.tail[self.tail_off[code] : self.tail_off[code + 1]]

    def posting(self, code: int) -> IntArray:
        """Slots whose text holds `code`, increasing."""
        return np.sort(np.concatenate((self.head_posting(code), self.tail_posting(code))))

    def common_bit(self, code: int) -> int:
        """The code's bit in `common`, or -1 when it has none."""
        if code >= len(self.order):
            return -1
        bit = len(self.order) - 1 - int(self.order[code])
        return bit if bit < COMMON_BITS else -1

    def holds_common(self, slots: IntArray, bit: int) -> IntArray:
        """Whether each slot holds the code of this `common` bit (bools)."""
        word = self.common[slots, bit >> 5]
        held: IntArray = (word >> np.uint32(bit & 31)) & np.uint32(1)
        return held.astype(bool)

    def place(self, code: int) -> int:
        """The code's place in `order` (-1 for codes the part has never seen: first)."""
        return int(self.order[code]) if code < len(self.order) else -1

    def length_slots(self, lo: int, hi: int) -> tuple[int, int]:
        """The slots holding lo..hi tokens: a range, as slots are ordered by length."""
        # Values of the array's own type: searching with others would convert the whole array.
        bounds = np.array((lo, hi), dtype=self.lengths.dtype)
        return (
            int(np.searchsorted(self.lengths, bounds[0], side="left")),
            int(np.searchsorted(self.lengths, bounds[1], side="right")),
        )

    def head_in(self, code: int, first: int, end: int) -> IntArray:
        """The part of head_posting(code) within slots first..end-1 (two binary searches)."""
        return _within(self.head_posting(code), first, end)

    def head_in_at(self, code: int, first: int, end: int) -> tuple[IntArray, IntArray]:
        """head_in(code, first, end) and those entries' head_pos."""
        if code + 1 >= len(self.head_off):
            return self.head[:0], self.head_pos[:0]
        a, b = int(self.head_off[code]), int(self.head_off[code + 1])
        i, j = np.searchsorted(self.head[a:b], np.array((first, end), dtype=self.head.dtype))
        return self.head[a + i : a + j], self.head_pos[a + i : a + j]

    def tail_in(self, code: int, first: int, end: int) -> IntArray:
        """The part of tail_posting(code) within slots first..end-1."""
        return _within(self.tail_posting(code), first, end)

    def posting_in(self, code: int, first: int, end: int) -> IntArray:
        """The part of posting(code) within slots first..end-1, increasing."""
        head, tail = self.head_in(code, first, end), self.tail_in(code, first, end)
        if not len(tail):
            return head
        return np.sort(np.concatenate((head, tail))) if len(head) else tail

    def slot_of_id(self, example_id: int) -> int | None:
        """The slot holding this id, if any (a binary search through `by_id`)."""
        ids, by_id = self.ids, self.by_id
        pos = bisect.bisect_left(range(self.n), example_id, key=lambda i: int(ids[by_id[i]]))
        if pos < self.n and int(ids[by_id[pos]]) == example_id:
            return int(by_id[pos])
        return None

    def posting_len(self, code: int) -> int:
        """len(posting(code)) without slicing."""
        if code + 1 >= len(self.head_off):
            return 0
        heads = self.head_off[code + 1] - self.head_off[code]
        return int(heads + self.tail_off[code + 1] - self.tail_off[code])

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
        run, off = self.gather(slots)
        return self.decode(run, off, np.arange(len(slots)))

    def gather(self, slots: IntArray) -> tuple[IntArray, IntArray]:
        """The codes of the slots one after the other, and where each slot's start (len + 1
        offsets)."""
        rows = self.rank[slots]
        starts = self.seq_off[rows]
        lengths = self.seq_off[rows + 1] - starts
        off = np.zeros(len(slots) + 1, dtype=np.int64)
        np.cumsum(lengths, out=off[1:])
        return np.take(self.codes, spans(starts, lengths)), off

    def decode(self, run: IntArray, off: IntArray, which: IntArray) -> list[str]:
        """Of codes gathered by `gather`, those of the slots at `which` as strings."""
        joined = run.tobytes().decode("utf-16-le" if run.dtype.itemsize == 2 else "utf-32-le")
        starts, ends = off[which].tolist(), off[which + 1].tolist()
        return [joined[a:b] for a, b in zip(starts, ends, strict=True)]

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
        # Offsets in 4 bytes when every token and text byte fits (8 bytes otherwise).
        wide = np.int64 if len(codes) >= 2**31 or self._text_pos >= 2**31 else np.int32
        seq_off = np.zeros(len(row_lengths) + 1, dtype=wide)
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
        order, heads, tails, common = build_postings(codes, seq_off, rank, width)
        text: Any = b""
        keep: list[Any] = [self._codes, self._text_file]  # the other arrays were copied
        text_off = np.frombuffer(self._text_off, dtype=np.int64).astype(wide)
        self._text_off = array("q")
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
            order,
            *heads,
            *tails,
            common,
            text_off,
            text,
            keep,
        )


def spans(starts: IntArray, lengths: IntArray) -> IntArray:
    """The positions starts[i] .. starts[i] + lengths[i] - 1 for every i, in a row (int64:
    numpy gathers through other index types several times slower)."""
    # Steps of 1, and at each span's first position the jump from the previous span's last.
    used = lengths > 0
    first, size = starts[used].astype(np.int64), lengths[used].astype(np.int64)
    step = np.ones(int(size.sum()), dtype=np.int64)
    if len(first):
        step[0] = first[0]
        step[(np.cumsum(size) - size)[1:]] = first[1:] - (first[:-1] + size[:-1] - 1)
    positions: IntArray = np.cumsum(step)
    return positions


def prefix_length(lengths: IntArray) -> IntArray:
    """Per token count n, how many of a slot's first tokens in `order` are its prefix: any text
    scoring ROUGE-L F1 >= PREFIX_THRESHOLD against it shares at least
    alpha = ceil(n·t/(2-t)) tokens with it (LCS <= the shorter length, so the partner has at
    least n·t/(2-t) tokens, and LCS >= t(m+n)/2), hence one of its first n - alpha + 1."""
    t = PREFIX_THRESHOLD
    n = lengths.astype(np.int64)
    alpha = np.ceil(n * t / (2 - t) - 1e-6).astype(np.int64)
    out: IntArray = np.minimum(n, n - alpha + 1)
    return out


def _slot_tokens(
    codes: IntArray,
    seq_off: IntArray,
    rank: IntArray,
    lo: int,
    hi: int,
    width: int,
    place: IntArray | None = None,
) -> tuple[IntArray, IntArray, IntArray | None, IntArray | None]:
    """(slot, code) of each distinct token of slots lo..hi-1, ordered by slot then code, or,
    given each code's `place` in the total order, by slot then place, with the position of
    the token's first occurrence among the slot's tokens in that order and whether that is in
    the slot's prefix (prefix_length of its tokens)."""
    rows = rank[lo:hi]
    starts = seq_off[rows]
    lengths = seq_off[rows + 1] - starts
    seg = codes[spans(starts, lengths)].astype(np.int64)
    if place is not None:
        seg = place[seg].astype(np.int64)
    slots = np.repeat(np.arange(lo, hi, dtype=np.int64), lengths)
    keys = slots * width + seg
    del seg
    keys.sort()
    head: IntArray | None = None
    pos: IntArray | None = None
    if len(keys):
        first = np.concatenate(([True], keys[1:] != keys[:-1]))
        if place is not None:
            # Position of each token in its slot's tokens in order, against the prefix.
            begins = np.repeat(np.cumsum(lengths) - lengths, lengths)
            cut = np.repeat(prefix_length(lengths), lengths)
            at = np.arange(len(keys)) - begins
            head = (at < cut)[first]
            pos = at[first]
            del begins, cut, at
        keys = keys[first]
    slot, key = keys // width, keys % width
    if place is not None:
        if head is None or pos is None:
            head, pos = np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
        inverse = np.empty(width, dtype=np.int64)
        inverse[place] = np.arange(width)
        key = inverse[key]
    return slot, key, head, pos


def _distinct_pairs(
    codes: IntArray, seq_off: IntArray, rank: IntArray, lo: int, hi: int, width: int
) -> tuple[IntArray, IntArray]:
    """(slot, code) of each distinct token of slots lo..hi-1, ordered by slot then code."""
    slot, code, _, _ = _slot_tokens(codes, seq_off, rank, lo, hi, width)
    return slot, code


def _chunks(seq_off: IntArray, rank: IntArray) -> list[tuple[int, int]]:
    """Consecutive slot ranges holding up to _CHUNK_TOKENS tokens each, and no more than a
    16th of all (but at least _MIN_CHUNK_TOKENS; at least one slot)."""
    ends = np.cumsum(seq_off[rank + 1] - seq_off[rank])
    # A small part in more passes: its temporary arrays stay a small share of the part too.
    size = min(_CHUNK_TOKENS, max(_MIN_CHUNK_TOKENS, int(ends[-1]) // 16 if len(ends) else 0))
    out: list[tuple[int, int]] = []
    lo, done = 0, 0
    while lo < len(rank):
        hi = max(lo + 1, int(np.searchsorted(ends, done + size, side="right")))
        out.append((lo, hi))
        lo, done = hi, int(ends[hi - 1])
    return out


def _fill(
    post: IntArray,
    cursor: IntArray,
    slot: IntArray,
    code: IntArray,
    width: int,
    post_pos: IntArray | None = None,
    pos: IntArray | None = None,
) -> None:
    """Append each slot to its code's posting at cursor[code] (slots increasing per code), and
    its `pos` to post_pos at the same place."""
    order = np.argsort(code, kind="stable")  # slots stay increasing within a code
    code, slot = code[order], slot[order]
    starts = np.concatenate(([True], code[1:] != code[:-1])) if len(code) else code
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(code)), 0))
    at = cursor[code] + (np.arange(len(code)) - group_start)
    post[at] = slot
    if post_pos is not None and pos is not None:
        post_pos[at] = np.minimum(pos[order], POS_CAP)
    cursor += np.bincount(code, minlength=width)


def build_postings(
    codes: IntArray, seq_off: IntArray, rank: IntArray, width: int
) -> tuple[IntArray, tuple[IntArray, IntArray, IntArray], tuple[IntArray, IntArray], IntArray]:
    """The total order of the codes (code -> place: fewest slots first, ties by code) and the
    head postings (offsets, slots, positions) and tail postings (offsets, slots) in CSR form,
    and each slot's `common` bits, by counting sorts over chunks
    of slots (slot s holds row rank[s]): the only big allocations are the results."""
    chunks = _chunks(seq_off, rank)
    counts = np.zeros(width, dtype=np.int64)
    for lo, hi in chunks:
        _, code = _distinct_pairs(codes, seq_off, rank, lo, hi, width)
        counts += np.bincount(code, minlength=width)
    place = np.empty(width, dtype=np.int32)
    place[np.argsort(counts, kind="stable")] = np.arange(width, dtype=np.int32)
    heads = np.zeros(width, dtype=np.int64)
    for lo, hi in chunks:
        _, code, head, _ = _slot_tokens(codes, seq_off, rank, lo, hi, width, place)
        assert head is not None
        heads += np.bincount(code[head], minlength=width)
    head_off = np.zeros(width + 1, dtype=np.int64)
    np.cumsum(heads, out=head_off[1:])
    tail_off = np.zeros(width + 1, dtype=np.int64)
    np.cumsum(counts - heads, out=tail_off[1:])
    del counts, heads
    head_post = np.empty(int(head_off[-1]), dtype=np.int32)
    head_pos = np.empty(int(head_off[-1]), dtype=np.uint8)
    tail_post = np.empty(int(tail_off[-1]), dtype=np.int32)
    head_at, tail_at = head_off[:-1].copy(), tail_off[:-1].copy()
    common = np.zeros((len(rank), COMMON_BITS // 32), dtype=np.uint32)
    bit_of = (width - 1 - place).astype(np.int64)  # code -> its bit, if under COMMON_BITS
    for lo, hi in chunks:
        slot, code, head, pos = _slot_tokens(codes, seq_off, rank, lo, hi, width, place)
        assert head is not None and pos is not None
        _fill(head_post, head_at, slot[head], code[head], width, head_pos, pos[head])
        _fill(tail_post, tail_at, slot[~head], code[~head], width)
        bits = bit_of[code]
        for word in range(COMMON_BITS // 32):
            mine = (bits >= 32 * word) & (bits < 32 * word + 32)
            if mine.any():
                one = np.left_shift(np.uint32(1), (bits[mine] - 32 * word).astype(np.uint32))
                held = slot[mine]
                starts = np.flatnonzero(np.concatenate(([True], held[1:] != held[:-1])))
                common[held[starts], word] = np.bitwise_or.reduceat(one, starts)
    return place, (head_off, head_post, head_pos), (tail_off, tail_post), common


def _within(posting: IntArray, first: int, end: int) -> IntArray:
    """The part of an increasing posting within slots first..end-1 (two binary searches)."""
    a, b = np.searchsorted(posting, np.array((first, end), dtype=posting.dtype))
    return posting[a:b]


def new_text_file(directory: Path | None = None) -> IO[bytes]:
    """A file for texts: in a snapshot directory, or an anonymous temporary file."""
    if directory is not None:
        return (directory / "texts.bin").open("w+b")
    return tempfile.TemporaryFile(prefix="crowdtune-dedup-")


def save(part: FrozenPart, directory: Path, meta: dict[str, Any]) -> None:
    """Write the arrays (the texts are already in directory/texts.bin) and meta.json."""
    for name in _ARRAYS:
        np.save(directory / f"{name}.npy", getattr(part, name), allow_pickle=False)
    meta = {**meta, "version": SNAPSHOT_VERSION, "prefix_threshold": PREFIX_THRESHOLD}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def load(directory: Path) -> tuple[FrozenPart, dict[str, Any]]:
    """A snapshot's arrays, memory-mapped read-only, and its meta."""
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    if meta.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"{directory}: snapshot version {meta.get('version')} is not supported")
    if meta.get("prefix_threshold") != PREFIX_THRESHOLD:
        raise ValueError(f"{directory}: prefixes cut for {meta.get('prefix_threshold')}")
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
