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
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
# Rows whose updated_at is this close to the last one seen are read again at the next sync:
# another process's transaction may commit after ours with an earlier timestamp.
SYNC_MARGIN = timedelta(minutes=5)
_SURROGATES = range(0xD800, 0xE000)
# rapidfuzz turns a similarity cutoff into a whole-number distance cutoff and rounding can drop
# a score exactly at the threshold (2·3/20 = 0.3 vs cutoff 0.3): ask with a looser cutoff, then
# keep scores >= threshold - _EPS ourselves.
_LOOSE = 1e-6
_EPS = 1e-9


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
        self._max_id = 0

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
        out: list[str] = []
        codes = self._codes
        for tok in tokens:
            code = codes.get(tok)
            if code is None:
                if not grow:
                    out.append(_UNKNOWN)
                    continue
                n = len(codes) + 1
                n += len(_SURROGATES) if n >= _SURROGATES.start else 0
                if n > 0x10FFFF:
                    raise OverflowError("the index holds more distinct tokens than it can encode")
                code = codes[tok] = chr(n)
            out.append(code)
        return "".join(out)

    def add(self, example_id: int, text: str, category_slug: str) -> None:
        """Index (or re-index) one example's text."""
        seq = self._encode(tokenize(text), grow=True)
        old = self._slot.get(example_id)
        if old is not None:
            if self._seqs[old] == seq:
                self._texts[old], self._cats[old] = text, category_slug
                return
            self._alive[old] = 0
        slot = len(self._ids)
        self._ids.append(example_id)
        self._seqs.append(seq)
        self._texts.append(text)
        self._cats.append(category_slug)
        self._lengths.append(len(seq))
        self._alive.append(1)
        self._slot[example_id] = slot
        for code in set(seq):
            posting = self._postings.get(code)
            if posting is None:
                posting = self._postings[code] = array("i")
            posting.append(slot)
        self._max_id = max(self._max_id, example_id)

    def remove(self, example_id: int) -> None:
        """Drop an example from the index (no-op when it is not there)."""
        slot = self._slot.pop(example_id, None)
        if slot is not None:
            self._alive[slot] = 0

    def sync(self, session: Session) -> int:
        """Catch up with examples added, edited, rejected or deleted since the last sync.

        Reads only rows newer than the last one seen (by id, and by updated_at less a margin),
        plus one count to notice deletions. Returns how many index entries changed.
        """
        stmt = select(
            Example.id,
            Example.instruction,
            Example.context,
            Example.status,
            Category.slug,
            Example.updated_at,
        ).join(Category, Category.id == Example.category_id)
        if self._synced_at is not None:
            stmt = stmt.where(
                or_(Example.id > self._max_id, Example.updated_at >= self._synced_at - SYNC_MARGIN)
            )
        changed = 0
        for ex_id, instruction, context, status, slug, updated in session.execute(stmt):
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
            self.add(ex_id, text, slug)
            changed += 1
        changed += self._reconcile_deletions(session)
        return changed

    def _reconcile_deletions(self, session: Session) -> int:
        live = Example.status != ExampleStatus.REJECTED
        stored = int(session.scalar(select(func.count()).select_from(Example).where(live)) or 0)
        if stored == len(self._slot):
            return 0
        # Rows were deleted (or rejected long ago by a writer we missed): compare id sets.
        present = set(session.scalars(select(Example.id).where(live)))
        gone = [i for i in self._slot if i not in present]
        for ex_id in gone:
            self.remove(ex_id)
        return len(gone)

    # -- querying ---------------------------------------------------------------------------

    def _candidates(self, seq: str, threshold: float) -> npt.NDArray[Any]:
        """Slots that can reach `threshold`: a sound prefilter, exact scores come later.

        An indexed text scoring >= t must share at least `need` tokens (with multiplicity)
        with the query, so it must hold one of the query's rarest tokens covering
        m - need + 1 of its occurrences; of those, keep slots within the length bounds.
        """
        m = len(seq)
        lo, hi = length_bounds(m, threshold)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        alive = np.frombuffer(self._alive, dtype=np.int8)
        slots: npt.NDArray[Any]
        if threshold <= 0:
            slots = np.flatnonzero(alive)
        else:
            need = math.ceil(threshold * (m + lo) / 2 - 1e-9)
            counts: dict[str, int] = {}
            for code in seq:
                if code != _UNKNOWN:
                    counts[code] = counts.get(code, 0) + 1
            by_rarity = sorted(counts, key=lambda c: len(self._postings[c]))
            budget, prefix = m - need + 1, []
            for code in by_rarity:
                if budget <= 0:
                    break
                prefix.append(np.frombuffer(self._postings[code], dtype=np.int32))
                budget -= counts[code]
            if not prefix:
                return np.empty(0, dtype=np.int64)
            slots = np.unique(np.concatenate(prefix)) if len(prefix) > 1 else prefix[0]
            slots = slots[alive[slots] == 1]
        sl = lengths[slots]
        return slots[(sl >= lo) & (sl <= hi)]

    def _search(
        self, seq: str, k: int, threshold: float, exclude_id: int | None
    ) -> list[NearMatch]:
        if not seq or k <= 0 or not self._slot:
            return []
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
