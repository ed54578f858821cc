"""Near-duplicate search over the corpus: ROUGE-L F1 on word tokens, computed with rapidfuzz.

ROUGE-L F1 (no stemming) is 2·LCS/(m+n) over the two token sequences, which is exactly
rapidfuzz's Indel normalized similarity of those sequences. Each distinct token is mapped once
to one code point, so a text becomes a short string and rapidfuzz's bit-parallel LCS applies.

What is indexed: the *prompt* of an example, i.e. its instruction followed by its context
(`prompt_text`). For categories without a context that is the instruction alone (the
Self-Instruct/Alpaca practice); for closed QA, extraction and summarization the same generic
instruction ("Summarize this.") over a different passage is not a duplicate, while the same
passage with a reworded question is. Rejected examples are not indexed.
"""

from __future__ import annotations

import math
import re
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Indel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from store.enums import ExampleStatus
from store.models import Category, Example

# Lowercase letters/digits runs: the same tokens rouge-score's default tokenizer keeps (it also
# splits on "_" and drops punctuation), but Unicode-aware so non-English text still tokenizes.
_TOKEN = re.compile(r"[^\W_]+")
# Code 0 stands for "a token the corpus has never seen": it can match nothing in the index.
_UNKNOWN = "\x00"
# Rows whose updated_at is this close to the newest one seen are checked again at the next
# sync: another process's edit may commit after ours with an earlier timestamp. (Rows that
# commit later than this are still found, by the count of live rows.)
SYNC_MARGIN = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ids per `IN (...)` when fetching changed rows.
_FETCH_CHUNK = 500
_SURROGATES = range(0xD800, 0xE000)
# rapidfuzz turns a similarity cutoff into a whole-number distance cutoff and rounding can drop
# a score exactly at the threshold (2·3/20 = 0.3 vs cutoff 0.3): ask with a looser cutoff, then
# keep scores >= threshold - _EPS ourselves.
_LOOSE = 1e-6
_EPS = 1e-9
# Once the count filter has narrowed the candidates to this many (for a query of up to 64
# tokens; fewer for longer ones, as scoring costs ~ length/64 words per pair), scoring them
# all is cheaper than more filtering.
_VERIFY_AT = 200
# Fewer new texts than this are added to the postings one by one; more, by one numpy sort.
_SMALL_ADD = 64


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens, punctuation dropped (rouge-score's tokenizer, Unicode-aware)."""
    return _TOKEN.findall(text.casefold())


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts over word tokens (no stemming), via rapidfuzz's Indel distance."""
    ta, tb = tokenize(a), tokenize(b)
    if not ta or not tb:
        return 0.0
    return float(Indel.normalized_similarity(ta, tb))


def prompt_text(instruction: str, context: str = "") -> str:
    """The text the index compares for an example: instruction, then context when there is one."""
    instruction, context = instruction.strip(), context.strip()
    return f"{instruction}\n\n{context}" if context else instruction


def length_bounds(n: int, threshold: float) -> tuple[int, int]:
    """Token counts a text must have to reach ROUGE-L F1 >= threshold against an n-token text.

    With LCS <= min(m, n), 2·min/(m+n) >= t gives m >= n·t/(2-t) and m <= n·(2-t)/t.
    """
    if threshold <= 0:
        return 0, 2**31 - 1
    lo = math.ceil(n * threshold / (2 - threshold) - 1e-9)
    hi = math.floor(n * (2 - threshold) / threshold + 1e-9)
    return lo, hi


@dataclass(frozen=True)
class NearMatch:
    """An indexed example whose text scores at least the threshold against the query."""

    example_id: int
    score: float
    category_slug: str
    text: str


class DedupIndex:
    """In-memory ROUGE-L index of example texts, kept current from the database by `sync`."""

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}
        self._ids: list[int] = []
        self._seqs: list[str] = []
        self._texts: list[str] = []
        self._cats: list[str] = []
        self._lengths = array("i")
        self._alive = array("b")
        self._slot: dict[int, int] = {}
        # token code -> slots whose text holds it; array('i') so numpy reads it without copying.
        self._postings: dict[str, array[int]] = {}
        self._synced_at: datetime | None = None
        # updated_at of every row read from the database, so a re-read row costs no text fetch.
        self._seen: dict[int, datetime] = {}
        self._max_id = 0
        # Queries hold numpy views of the arrays above, and appending to an array('i') that is
        # exported raises BufferError: threads of one process (a web server) take turns.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, example_id: object) -> bool:
        return example_id in self._slot

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_session(cls, session: Session) -> DedupIndex:
        """An index of every non-rejected example's prompt (instruction + context)."""
        index = cls()
        index.sync(session)
        return index

    def _encode(self, tokens: Sequence[str], *, grow: bool) -> str:
        """Tokens as one code point each; unseen tokens get new codes, or _UNKNOWN if not grow."""
        if not grow:
            get = self._codes.get
            return "".join([get(t, _UNKNOWN) for t in tokens])
        out: list[str] = []
        codes = self._codes
        for tok in tokens:
            code = codes.get(tok)
            if code is None:
                n = len(codes) + 1
                n += len(_SURROGATES) if n >= _SURROGATES.start else 0
                if n > 0x10FFFF:
                    raise OverflowError("the index holds more distinct tokens than it can encode")
                code = codes[tok] = chr(n)
            out.append(code)
        return "".join(out)

    def add(self, example_id: int, text: str, category_slug: str) -> None:
        """Index (or re-index) one example's text."""
        self.add_many([(example_id, text, category_slug)])

    def add_many(self, items: Iterable[tuple[int, str, str]]) -> int:
        """Index (or re-index) many `(example_id, text, category_slug)` at once; returns how many
        entries changed. Postings are built in one vectorised pass, which is what makes
        building from 50k+ examples take seconds rather than minutes."""
        with self._lock:
            first = len(self._ids)
            changed = sum(self._append(i, tokenize(t), t, c) for i, t, c in items)
            self._post(first)
            return changed

    def _append(
        self,
        example_id: int,
        tokens: list[str],
        text: str,
        category_slug: str,
        seq: str | None = None,
    ) -> bool:
        """Add a slot for this example (postings are built by _post); False if text unchanged.

        `seq` is `tokens` already encoded, when none of them is new."""
        if seq is None:
            try:
                seq = "".join([self._codes[t] for t in tokens])
            except KeyError:
                seq = self._encode(tokens, grow=True)
        old = self._slot.get(example_id)
        if old is not None:
            if self._seqs[old] == seq:
                self._texts[old], self._cats[old] = text, category_slug
                return False
            self._alive[old] = 0
        self._slot[example_id] = len(self._ids)
        self._ids.append(example_id)
        self._seqs.append(seq)
        self._texts.append(text)
        self._cats.append(category_slug)
        self._lengths.append(len(seq))
        self._alive.append(1)
        self._max_id = max(self._max_id, example_id)
        return True

    def _post(self, first: int) -> None:
        """Add slots first.. to the postings (token code -> sorted slots holding it)."""
        end = len(self._ids)
        if end - first < _SMALL_ADD:
            for slot in range(first, end):
                for char in set(self._seqs[slot]):
                    posting = self._postings.get(char)
                    if posting is None:
                        posting = self._postings[char] = array("i")
                    posting.append(slot)
            return
        codes = np.frombuffer("".join(self._seqs[first:]).encode("utf-32-le"), dtype=np.uint32)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)[first:end]
        slots = np.repeat(np.arange(first, end, dtype=np.int64), lengths)
        # One sort of (code, slot) keys gives every code's distinct slots in increasing order.
        keys = codes.astype(np.int64) * end + slots
        keys.sort()  # (np.unique hashes first in numpy 2, several times slower here)
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        key_codes = keys // end
        key_slots = (keys % end).astype(np.int32).tobytes()
        bounds = np.flatnonzero(np.diff(key_codes)) + 1
        starts = [0, *bounds.tolist()]
        stops = [*bounds.tolist(), len(keys)]
        for code, lo, hi in zip(key_codes[starts].tolist(), starts, stops, strict=True):
            char = chr(code)
            posting = self._postings.get(char)
            if posting is None:
                posting = self._postings[char] = array("i")
            posting.frombytes(key_slots[lo * 4 : hi * 4])

    def remove(self, example_id: int) -> None:
        """Drop an example from the index (no-op when it is not there)."""
        with self._lock:
            slot = self._slot.pop(example_id, None)
            if slot is not None:
                self._alive[slot] = 0

    def sync(self, session: Session) -> int:
        """Catch up with examples added, edited, rejected or deleted since the last sync.

        Cheap when little changed: it reads (id, updated_at, status) of rows with a newer id or
        a recent updated_at, fetches the text only of rows whose updated_at it has not seen,
        and counts live rows to notice rows it missed (a long transaction that committed late)
        or that were deleted. Returns how many index entries changed.
        """
        with self._lock:
            if self._synced_at is None:
                return self._load(session, None)
            return self._catch_up(session)

    def _load(self, session: Session, ids: list[int] | None) -> int:
        """Read and index the rows with these ids (all rows when None)."""
        stmt = select(
            Example.id,
            Example.instruction,
            Example.context,
            Example.status,
            Category.slug,
            Example.updated_at,
        ).join(Category, Category.id == Example.category_id)
        chunks: list[Any] = (
            [stmt]
            if ids is None
            else [
                stmt.where(Example.id.in_(ids[i : i + _FETCH_CHUNK]))
                for i in range(0, len(ids), _FETCH_CHUNK)
            ]
        )
        changed = 0
        pending: list[tuple[int, str, str]] = []
        for chunk in chunks:
            for ex_id, instruction, context, status, slug, updated in session.execute(chunk):
                self._seen[ex_id] = updated
                if self._synced_at is None or updated > self._synced_at:
                    self._synced_at = updated
                if status == ExampleStatus.REJECTED:
                    if ex_id in self._slot:
                        self.remove(ex_id)
                        changed += 1
                    continue
                text = prompt_text(instruction, context)
                slot = self._slot.get(ex_id)
                if slot is not None and self._texts[slot] == text and self._cats[slot] == slug:
                    continue
                pending.append((ex_id, text, slug))
                self._max_id = max(self._max_id, ex_id)
        if self._synced_at is None:
            self._synced_at = datetime.min.replace(tzinfo=UTC)
        self.add_many(pending)
        return changed + len(pending)

    def _catch_up(self, session: Session) -> int:
        assert self._synced_at is not None
        since = self._synced_at - SYNC_MARGIN if self._synced_at > _EPOCH else self._synced_at
        recent = select(Example.id, Example.updated_at).where(
            or_(Example.id > self._max_id, Example.updated_at >= since)
        )
        stale = [i for i, updated in session.execute(recent) if self._seen.get(i) != updated]
        changed = self._load(session, stale) if stale else 0
        live = Example.status != ExampleStatus.REJECTED
        stored = int(session.scalar(select(func.count()).select_from(Example).where(live)) or 0)
        if stored == len(self._slot):
            return changed
        # Rows committed late with old timestamps, or deleted: compare the id sets.
        present = set(session.scalars(select(Example.id).where(live)))
        gone = [i for i in self._slot if i not in present]
        for ex_id in gone:
            self.remove(ex_id)
            self._seen.pop(ex_id, None)
        missing = sorted(present.difference(self._slot))
        return changed + len(gone) + (self._load(session, missing) if missing else 0)

    # -- querying ---------------------------------------------------------------------------

    def _candidates(self, seq: str, threshold: float) -> npt.NDArray[Any]:
        """Slots that can still reach `threshold`: a sound filter, exact scores come later.

        ROUGE-L F1 >= t against an n-token text needs LCS >= need(n) = ceil(t(m+n)/2), and LCS
        is at most the query tokens (with multiplicity) the text also holds. So (1) length
        bounds; (2) prefix filter: a match holds one of the query's rarest tokens covering
        m - need + 1 occurrences; (3) count filter: going through the other tokens rarest
        first, drop slots whose shared count plus what is left cannot reach need(n).
        Postings are sorted by slot, so membership of a few candidates is a binary search.
        """
        m = len(seq)
        lo, hi = length_bounds(m, threshold)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        alive = np.frombuffer(self._alive, dtype=np.int8)
        if threshold <= 0:
            slots = np.flatnonzero(alive)
            return slots[(lengths[slots] >= lo) & (lengths[slots] <= hi)]
        postings = self._postings
        weights = Counter(seq)
        weights.pop(_UNKNOWN, None)
        by_rarity = sorted(weights, key=lambda c: len(postings[c]))
        need_min = math.ceil(threshold * (m + lo) / 2 - _EPS)
        # Prefix: the rarest tokens until their weights exceed m - need_min.
        budget = m - need_min + 1
        used = 0
        for code in by_rarity:
            if budget <= 0:
                break
            budget -= weights[code]
            used += 1
        if used == 0:
            return np.empty(0, dtype=np.int64)
        # One bincount over the prefix tokens' postings counts every slot's shared weight; a
        # token the query holds w times is joined w times (a weighted bincount is slower).
        # (bytes.join reads the arrays' buffers: one copy, no numpy call per token.)
        prefix = by_rarity[:used]
        prefix_weights = [weights[c] for c in prefix]
        if max(prefix_weights) == 1:
            joined = b"".join([postings[c] for c in prefix])
        else:
            joined = b"".join([postings[c] for c in prefix for _ in range(weights[c])])
        shared = np.bincount(np.frombuffer(joined, dtype=np.int32), minlength=len(lengths))
        slots = np.flatnonzero(shared)
        n = lengths[slots]
        ok = (n >= lo) & (n <= hi) & (alive[slots] == 1)
        slots = slots[ok]
        got = shared[slots]
        # A whole number reaches ceil(t(m+n)/2 - eps) iff it reaches t(m+n)/2 - eps: no ceil.
        need = threshold * (m + n[ok]) / 2 - _EPS
        left = sum(weights.values()) - sum(prefix_weights)
        verify_at = max(8, _VERIFY_AT * 64 // max(m, 64))
        for code in by_rarity[used:]:
            keep = got + left >= need
            if not keep.all():
                slots, got, need = slots[keep], got[keep], need[keep]
            if len(slots) <= verify_at:
                break
            posting = np.frombuffer(self._postings[code], dtype=np.int32)
            pos = np.searchsorted(posting, slots)
            pos[pos == len(posting)] = 0
            got = got + weights[code] * (posting[pos] == slots)
            left -= weights[code]
        result: npt.NDArray[Any] = slots[got + left >= need]
        return result

    def _search(
        self, seq: str, k: int, threshold: float, exclude_id: int | None
    ) -> list[NearMatch]:
        if not seq or k <= 0 or not self._slot:
            return []
        with self._lock:
            return self._score(seq, k, threshold, exclude_id)

    def _score(self, seq: str, k: int, threshold: float, exclude_id: int | None) -> list[NearMatch]:
        slots = self._candidates(seq, threshold)
        if len(slots) == 0:
            return []
        choices = [self._seqs[s] for s in slots.tolist()]
        limit = k + (1 if exclude_id is not None else 0)
        hits = process.extract(
            seq,
            choices,
            scorer=Indel.normalized_similarity,
            processor=None,
            score_cutoff=max(threshold - _LOOSE, 0.0),
            limit=limit,
        )
        out: list[NearMatch] = []
        for _, score, pos in hits:
            slot = int(slots[pos])
            ex_id = self._ids[slot]
            if ex_id == exclude_id or score < threshold - _EPS:
                continue
            out.append(NearMatch(ex_id, float(score), self._cats[slot], self._texts[slot]))
        # Best first; ties by lower (older) id so results are stable.
        out.sort(key=lambda n: (-n.score, n.example_id))
        return out[:k]

    def nearest(
        self,
        text: str,
        *,
        k: int = 5,
        threshold: float = 0.7,
        exclude_id: int | None = None,
    ) -> list[NearMatch]:
        """The k indexed examples scoring >= threshold against `text`, best first."""
        return self._search(self._encode(tokenize(text), grow=False), k, threshold, exclude_id)

    def nearest_many(
        self,
        texts: Iterable[str],
        *,
        k: int = 5,
        threshold: float = 0.7,
    ) -> list[list[NearMatch]]:
        """`nearest` for many query texts at once (e.g. an import file), in input order."""
        return [
            self._search(self._encode(tokenize(t), grow=False), k, threshold, None) for t in texts
        ]

    def nearest_then_add(
        self,
        example_id: int,
        text: str,
        category_slug: str,
        *,
        k: int = 1,
        threshold: float = 0.7,
        add_near_duplicates: bool = True,
    ) -> list[NearMatch]:
        """`nearest(text)`, then index `text` (unless it matched and `add_near_duplicates` is
        False): one tokenization per text, for scanning a batch against itself as it grows."""
        tokens = tokenize(text)
        with self._lock:
            seq = self._encode(tokens, grow=False)
            hits = self._search(seq, k, threshold, None)
            if add_near_duplicates or not hits:
                first = len(self._ids)
                known = seq if _UNKNOWN not in seq else None
                self._append(example_id, tokens, text, category_slug, known)
                self._post(first)
        return hits
