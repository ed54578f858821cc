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

import itertools
import math
import re
import threading
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Indel
from sqlalchemy import bindparam, event, or_, select
from sqlalchemy.orm import Session, SessionTransaction

from store.counters import LIVE_SUBQUERIES, is_pg, live_total
from store.enums import ExampleStatus
from store.models import Category, Example
from store.quality import frozen
from store.quality.frozen import FrozenPart, PartBuilder

# Lowercase letters/digits runs: the same tokens rouge-score's default tokenizer keeps (it also
# splits on "_" and drops punctuation), but Unicode-aware so non-English text still tokenizes.
_TOKEN = re.compile(r"[^\W_]+")
# ASCII text: upper case to lower, every other non-alphanumeric character to a space.
_ASCII_GAPS = str.maketrans(
    {chr(c): (chr(c).lower() if chr(c).isalnum() else " ") for c in range(128)}
)
# Distinct separator characters of a non-ASCII text replaced one pass each; beyond this many
# the regex is cheaper.
_MAX_GAPS = 48
# Code 0 stands for "a token the corpus has never seen": it can match nothing in the index.
_UNKNOWN = "\x00"
# Rows whose updated_at is this close to the newest one seen are checked again at the next
# sync: another process's edit may commit after ours with an earlier timestamp. (Rows that
# commit later than this are still found, by the count of live rows.)
SYNC_MARGIN = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How long an entry added inside a transaction explains a difference between the index and
# the committed live count (seconds). Past it, or once a sync has seen the row committed,
# a difference it would have explained makes the sync compare the id sets again.
PROVISIONAL_TTL = SYNC_MARGIN.total_seconds()
# session.info key of the entries a session's open transaction added or removed, per index.
_PENDING = "crowdtune.dedup_pending"
# Ids per `IN (...)` when fetching changed rows.
_FETCH_CHUNK = 500
_SURROGATES = range(0xD800, 0xE000)
# rapidfuzz turns a similarity cutoff into a whole-number distance cutoff and rounding can drop
# a score exactly at the threshold (2·3/20 = 0.3 vs cutoff 0.3): ask with a looser cutoff, then
# keep scores >= threshold - _EPS ourselves.
_LOOSE = 1e-6
_EPS = 1e-9
# More frozen candidates than this are checked by order_bound before rapidfuzz scores them.
_ORDER_CHECK_AT = 16
# The count filter stops once a pass over a token's posting drops fewer slots than this (for
# a query of up to 64 tokens) plus 1/128 of those left: checking them against the query's
# codes costs less then.
_STALL = 64
# Once the count filter has narrowed the candidates to this many (for a query of up to 64
# tokens; fewer for longer ones, as scoring costs ~ length/64 words per pair), scoring them
# all is cheaper than more filtering.
_VERIFY_AT = 200
# A batch this large added to an index is frozen into flat arrays with everything already held
# (smaller ones go to the per-token lists of recent additions).
_BULK_ADD = 20_000
# Rows read per round trip when loading the whole table.
_STREAM_CHUNK = 5_000
# The prefix filter merges its postings by sorting them when they hold fewer slots than this
# share of the slots of the lengths it reads; otherwise one bincount over those is cheaper.
_SORT_SHARE = 8
_NO_SLOTS = np.empty(0, dtype=np.int32)
# Membership of k slots in a posting: k binary searches cost about this many steps each, so
# one pass over the posting is cheaper when it is shorter than this many times k.
_SCAN_SHARE = 8


def _distinct_counts(slots: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The distinct values of `slots` and how often each occurs."""
    joined = np.sort(slots)
    if not len(joined):
        return joined.astype(np.int64), joined.astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], joined[1:] != joined[:-1])))
    return joined[starts].astype(np.int64), np.diff(np.append(starts, len(joined)))


def _recent_rows(live: Any) -> Any:
    """The live count (one row even when nothing is recent), joined with the rows whose id is
    newer or whose updated_at is recent: both through indexes."""
    recent = or_(Example.id > bindparam("max_id"), Example.updated_at >= bindparam("since"))
    return select(live.c.n, live.c.staged, Example.id, Example.updated_at).select_from(
        live.outerjoin(Example, recent)
    )


_RECENT = {pg: _recent_rows(live) for pg, live in LIVE_SUBQUERIES.items()}


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens, punctuation dropped (rouge-score's tokenizer, Unicode-aware).

    The tokens are the runs of `_TOKEN`, i.e. of characters that are `str.isalnum()` (the
    regex's word class less "_"), found without the regex when that is cheaper: turning the
    other characters into spaces and splitting gives the same runs, as no alphanumeric
    character is white space (tests/test_quality_dedup.py checks both on every code point).
    """
    if text.isascii():  # one C pass: lowercase, punctuation to spaces
        return text.translate(_ASCII_GAPS).split()
    low = text.casefold()
    gaps = [c for c in set(low) if not c.isalnum() and not c.isspace()]
    if len(gaps) > _MAX_GAPS:
        return _TOKEN.findall(low)
    for c in gaps:
        low = low.replace(c, " ")
    return low.split()


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


@dataclass
class _Provisional:
    """An index change made inside a transaction that other sessions may not see yet."""

    added_at: float  # time.monotonic() of the first change
    held_before: bool  # whether the index held the id live before the change
    updated_at: datetime | None  # the row's updated_at as the transaction wrote it
    owner: dict[DedupIndex, set[int]] | None  # the open transaction's pending map; None once
    # it committed


@dataclass(frozen=True)
class NearMatch:
    """An indexed example whose text scores at least the threshold against the query."""

    example_id: int
    score: float
    category_slug: str
    text: str


class DedupIndex:
    """ROUGE-L index of example texts, kept current from the database by `sync`.

    Most slots live in a frozen part (flat arrays; memory-mapped when loaded from a
    snapshot), the rest in small per-token lists of what was added since. Texts of the frozen
    part stay in a file: only the matches shown to people read them.
    """

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}
        self._slugs: list[str] = []
        self._slug_no: dict[str, int] = {}
        self._frozen = FrozenPart.empty()
        # Zeros, one per frozen slot, that _count_filter marks and clears (allocated on use).
        self._scratch: npt.NDArray[Any] | None = None
        # Zeros, one per frozen code, that order_bound marks and clears (allocated on use).
        self._label_scratch: npt.NDArray[Any] | None = None
        # Per slot, frozen and recent alike (array('i') so numpy reads them without copying).
        self._lengths = array("i")
        self._alive = array("b")
        # Recent slots (numbered from the frozen part's end): sequences, texts, ids, postings.
        self._seqs: list[str] = []
        self._texts: list[str] = []
        self._cats = array("H")
        self._ids: list[int] = []
        self._recent_slot: dict[int, int] = {}
        self._postings: dict[str, array[int]] = {}
        # Frozen slots ordered by id, for id -> slot (None when slots are already in id order).
        self._live = 0
        self._synced_at: datetime | None = None
        # updated_at of rows seen within SYNC_MARGIN of the newest, so a re-read row whose
        # timestamp has not moved costs no text fetch.
        self._seen: dict[int, datetime] = {}
        self._max_id = 0
        # Ids changed by transactions other sessions may not see committed yet, and ids to read
        # again because the transaction that changed them rolled back.
        self._provisional: dict[int, _Provisional] = {}
        self._recheck: set[int] = set()
        # Queries hold numpy views of the arrays above, and appending to an array('i') that is
        # exported raises BufferError: threads of one process (a web server) take turns.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self._live

    def __contains__(self, example_id: object) -> bool:
        return isinstance(example_id, int) and self._slot_of(example_id) is not None

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_session(cls, session: Session) -> DedupIndex:
        """An index of every non-rejected example's prompt (instruction + context)."""
        index = cls()
        index.sync(session)
        return index

    @classmethod
    def open(cls, directory: Path) -> DedupIndex:
        """The index saved by `write_snapshot`, memory-mapped; `sync` then catches it up."""
        part, meta = frozen.load(directory)
        index = cls()
        tokens = (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")
        index._codes = {t: chr(c) for t, c in zip(tokens, meta["vocab_codes"], strict=True)}
        index._slugs = list(meta["slugs"])
        index._slug_no = {s: i for i, s in enumerate(index._slugs)}
        index._install(part)
        index._synced_at = datetime.fromisoformat(meta["synced_at"])
        index._max_id = int(meta["max_id"])
        index._seen = {int(k): datetime.fromisoformat(v) for k, v in meta["seen"].items()}
        return index

    @classmethod
    def write_snapshot(cls, session: Session, directory: Path) -> int:
        """Build the index of every non-rejected example straight into a snapshot directory
        (texts streamed to disk), and publish it atomically; returns how many it holds."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        built = directory.with_name(f"{directory.name}.{uuid.uuid4().hex[:12]}")
        built.mkdir()
        index = cls()
        with frozen.new_text_file(built) as text_file:
            index._load_all(session, text_file)
            codes = sorted(index._codes.items(), key=lambda kv: ord(kv[1]))
            (built / "vocab.txt").write_text("\n".join(t for t, _ in codes), encoding="utf-8")
            assert index._synced_at is not None
            meta = {
                "vocab_codes": [ord(c) for _, c in codes],
                "slugs": index._slugs,
                "synced_at": index._synced_at.isoformat(),
                "max_id": index._max_id,
                "seen": {str(k): v.isoformat() for k, v in index._seen.items()},
                "count": len(index),
            }
            frozen.save(index._frozen, built, meta)
        frozen.publish(built, directory)
        return len(index)

    def _install(self, part: FrozenPart) -> None:
        """Make `part` the frozen slots (the index must hold no recent slots)."""
        self._frozen = part
        self._scratch = None
        self._lengths = array("i")
        self._lengths.frombytes(np.ascontiguousarray(part.lengths, dtype=np.int32).tobytes())
        self._alive = array("b", bytes([1])) * part.n
        self._live = part.n
        if part.n:
            self._max_id = max(self._max_id, int(np.asarray(part.ids).max()))

    def _slug(self, category_slug: str) -> int:
        number = self._slug_no.get(category_slug)
        if number is None:
            number = self._slug_no[category_slug] = len(self._slugs)
            self._slugs.append(category_slug)
        return number

    def _encode(self, tokens: Sequence[str], *, grow: bool) -> str:
        """Tokens as one code point each; unseen tokens get new codes, or _UNKNOWN if not grow."""
        if not grow:
            get = self._codes.get
            return "".join([get(t, _UNKNOWN) for t in tokens])
        self._grow(tokens)
        return "".join(map(self._codes.__getitem__, tokens))

    def _grow(self, tokens: Iterable[str]) -> None:
        """Give the tokens the index has never seen codes of their own, in order of appearance."""
        codes = self._codes
        # The known ones are skipped by C loops: only new tokens cost Python steps.
        for tok in list(itertools.filterfalse(codes.__contains__, dict.fromkeys(tokens))):
            n = len(codes) + 1
            n += len(_SURROGATES) if n >= _SURROGATES.start else 0
            if n > 0x10FFFF:
                raise OverflowError("the index holds more distinct tokens than it can encode")
            codes[tok] = chr(n)

    def _seq_of(self, tokens: list[str]) -> str:
        try:  # one lookup a token, the join's C loop, while every token is known
            return "".join(map(self._codes.__getitem__, tokens))
        except KeyError:
            return self._encode(tokens, grow=True)

    def add(
        self,
        example_id: int,
        text: str,
        category_slug: str,
        *,
        session: Session | None = None,
        updated_at: datetime | None = None,
    ) -> None:
        """Index (or re-index) one example's text. `session`: the open transaction that wrote
        it (at `updated_at`), so other syncs do not take the uncommitted row for a missed one,
        and its rollback makes the next sync read the row again."""
        with self._lock:
            self._provisionally(session, example_id, updated_at)
            self.add_many([(example_id, text, category_slug)])

    def add_many(self, items: Iterable[tuple[int, str, str]]) -> int:
        """Index (or re-index) many `(example_id, text, category_slug)` at once; returns how many
        entries changed. A large batch is frozen into flat arrays in one pass."""
        items = list(items)
        with self._lock:
            if len(items) >= _BULK_ADD:
                return self._bulk(items)
            return sum(self._append(i, tokenize(t), t, c) for i, t, c in items)

    def _bulk(self, items: list[tuple[int, str, str]]) -> int:
        """Freeze what is held plus `items` into a new frozen part."""
        text_file = frozen.new_text_file()
        builder = PartBuilder(text_file)
        for slot in np.flatnonzero(np.frombuffer(self._alive, dtype=np.int8)).tolist():
            builder.add(
                self._id_at(slot), self._seq_at(slot), self._text_at(slot), self._cat_at(slot)
            )
        for ex_id, text, slug in items:
            builder.add(ex_id, self._seq_of(tokenize(text)), text, self._slug(slug))
        self._reset_recent()
        self._install(builder.freeze(self._vocab_width()))
        return len(items)

    def _vocab_width(self) -> int:
        return max((ord(c) for c in self._codes.values()), default=0) + 1

    def _reset_recent(self) -> None:
        self._seqs, self._texts, self._ids = [], [], []
        self._cats = array("H")
        self._recent_slot = {}
        self._postings = {}

    def _append(self, example_id: int, tokens: list[str], text: str, category_slug: str) -> bool:
        """Add a recent slot for this example; False if its text was already indexed."""
        seq = self._seq_of(tokens)
        cat = self._slug(category_slug)
        old = self._slot_of(example_id)
        if old is not None:
            if self._seq_at(old) == seq and self._cat_at(old) == cat:
                if old >= self._frozen.n:
                    self._texts[old - self._frozen.n] = text
                return False
            self._kill(old)
        slot = self._frozen.n + len(self._seqs)
        self._recent_slot[example_id] = slot
        self._ids.append(example_id)
        self._seqs.append(seq)
        self._texts.append(text)
        self._cats.append(cat)
        self._lengths.append(len(seq))
        self._alive.append(1)
        self._live += 1
        self._max_id = max(self._max_id, example_id)
        for char in set(seq):
            posting = self._postings.get(char)
            if posting is None:
                posting = self._postings[char] = array("i")
            posting.append(slot)
        return True

    # -- slots ------------------------------------------------------------------------------

    def _slot_of(self, example_id: int) -> int | None:
        """The live slot holding this example, if any."""
        slot = self._recent_slot.get(example_id)
        if slot is not None:
            return slot
        found = self._frozen.slot_of_id(example_id)
        return found if found is not None and self._alive[found] else None

    def _kill(self, slot: int) -> None:
        if self._alive[slot]:
            self._alive[slot] = 0
            self._live -= 1

    def _id_at(self, slot: int) -> int:
        n = self._frozen.n
        return int(self._frozen.ids[slot]) if slot < n else self._ids[slot - n]

    def _seq_at(self, slot: int) -> str:
        n = self._frozen.n
        return self._frozen.seq(slot) if slot < n else self._seqs[slot - n]

    def _text_at(self, slot: int) -> str:
        n = self._frozen.n
        return self._frozen.text_of(slot) if slot < n else self._texts[slot - n]

    def _cat_at(self, slot: int) -> int:
        n = self._frozen.n
        return int(self._frozen.cats[slot]) if slot < n else self._cats[slot - n]

    def remove(
        self,
        example_id: int,
        *,
        session: Session | None = None,
        updated_at: datetime | None = None,
    ) -> None:
        """Drop an example from the index (no-op when it is not there); `session` and
        `updated_at` as in `add`."""
        with self._lock:
            self._provisionally(session, example_id, updated_at)
            slot = self._slot_of(example_id)
            if slot is not None:
                self._kill(slot)
                self._recent_slot.pop(example_id, None)

    # -- changes of open transactions -------------------------------------------------------

    def _provisionally(
        self, session: Session | None, example_id: int, updated_at: datetime | None
    ) -> None:
        """Record that `session`'s open transaction is changing this id (lock held)."""
        if session is None:
            return
        pending = _pending_of(session)
        pending.setdefault(self, set()).add(example_id)
        entry = self._provisional.get(example_id)
        if entry is None or entry.owner is not pending:
            held = entry.held_before if entry is not None else example_id in self
            entry = _Provisional(time.monotonic(), held, updated_at, pending)
            self._provisional[example_id] = entry
        elif updated_at is not None:
            entry.updated_at = updated_at

    def _committed(self, pending: dict[DedupIndex, set[int]]) -> None:
        """The transaction owning `pending` committed: its rows are there for every new sync
        (entries stay until a sync sees them, as one that started before may not)."""
        with self._lock:
            for example_id in pending.get(self, ()):
                entry = self._provisional.get(example_id)
                if entry is not None and entry.owner is pending:
                    entry.owner = None

    def _rolled_back(self, pending: dict[DedupIndex, set[int]]) -> None:
        """The transaction owning `pending` ended without committing: read its ids again."""
        with self._lock:
            for example_id in pending.get(self, ()):
                entry = self._provisional.get(example_id)
                if entry is not None and entry.owner is pending:
                    del self._provisional[example_id]
                self._recheck.add(example_id)

    def _unexplained(self, session: Session, seen: dict[int, datetime], difference: int) -> bool:
        """Settle the provisional entries against one catch-up (the rows its snapshot showed,
        id -> updated_at) and say whether `difference` (index minus committed live count) is
        left unexplained.

        An entry another open (or just committed) transaction made accounts for what it
        changed in the index until a snapshot shows that change committed: the new row, or
        the row at the updated_at written. One this session's own transaction made is visible
        to it, so it accounts for nothing here. Shown committed, or too old, it is dropped.
        """
        if not self._provisional:
            return difference != 0
        mine = session.info.get(_PENDING)
        now = time.monotonic()
        expected = 0
        for example_id, entry in list(self._provisional.items()):
            if entry.owner is not None and entry.owner is mine:
                continue
            shown = seen.get(example_id)
            committed = shown is not None and (
                not entry.held_before or entry.updated_at is None or shown >= entry.updated_at
            )
            if committed or now - entry.added_at > PROVISIONAL_TTL:
                del self._provisional[example_id]
                continue
            expected += int(example_id in self) - int(entry.held_before)
        return difference != expected

    # -- catching up with the database ------------------------------------------------------

    def sync(self, session: Session) -> int:
        """Catch up with examples added, edited, rejected or deleted since the last sync.

        Reads (id, updated_at) of rows with a newer id or an updated_at within SYNC_MARGIN of
        the newest seen (both indexed), fetches the text only of rows it has not seen at that
        updated_at, and compares its size with the live count the counters keep, to notice
        rows it missed (a long transaction that committed late) or that were deleted; what
        other sessions' open transactions added or removed here (`add`/`remove` with their
        session) accounts for its part of a difference. With nothing new that is two indexed
        lookups, whatever the size of the corpus.
        """
        with self._lock:
            if self._synced_at is None:
                return self._load_all(session, None)
            return self._catch_up(session)

    def _rows(self) -> Any:
        return select(
            Example.id,
            Example.instruction,
            Example.context,
            Example.status,
            Category.slug,
            Example.updated_at,
        ).join(Category, Category.id == Example.category_id)

    def _load_all(self, session: Session, text_file: Any) -> int:
        """Index every non-rejected row, frozen into flat arrays as it streams in."""
        builder = PartBuilder(text_file if text_file is not None else frozen.new_text_file())
        newest = datetime.min.replace(tzinfo=UTC)
        stmt = (
            self._rows()
            .where(Example.status != ExampleStatus.REJECTED)
            .order_by(Example.id)
            .execution_options(yield_per=_STREAM_CHUNK)
        )
        for ex_id, instruction, context, _, slug, updated in session.execute(stmt):
            newest = max(newest, updated)
            text = prompt_text(instruction, context)
            builder.add(ex_id, self._seq_of(tokenize(text)), text, self._slug(slug))
        self._reset_recent()
        self._install(builder.freeze(self._vocab_width()))
        self._synced_at = newest
        if newest > _EPOCH:
            recent = select(Example.id, Example.updated_at).where(
                Example.updated_at >= newest - SYNC_MARGIN
            )
            self._seen = {i: u for i, u in session.execute(recent)}
        return len(self)

    def _load(self, session: Session, ids: list[int]) -> int:
        """Read and index the rows with these ids; drop those the database does not hold."""
        assert self._synced_at is not None
        changed = 0
        for i in range(0, len(ids), _FETCH_CHUNK):
            asked = ids[i : i + _FETCH_CHUNK]
            chunk = self._rows().where(Example.id.in_(asked))
            found: set[int] = set()
            for ex_id, instruction, context, status, slug, updated in session.execute(chunk):
                found.add(ex_id)
                self._seen[ex_id] = updated
                self._synced_at = max(self._synced_at, updated)
                self._max_id = max(self._max_id, ex_id)
                if status == ExampleStatus.REJECTED:
                    if self._slot_of(ex_id) is not None:
                        self.remove(ex_id)
                        changed += 1
                    continue
                text = prompt_text(instruction, context)
                changed += self._append(ex_id, tokenize(text), text, slug)
            for ex_id in set(asked) - found:  # deleted, or never committed
                self._seen.pop(ex_id, None)
                if self._slot_of(ex_id) is not None:
                    self.remove(ex_id)
                    changed += 1
        return changed

    def _catch_up(self, session: Session) -> int:
        assert self._synced_at is not None
        since = self._synced_at - SYNC_MARGIN if self._synced_at > _EPOCH else self._synced_at
        # One round trip: the live count, joined with the recent rows (none, usually).
        recent = _RECENT[is_pg(session)]
        rows = session.execute(recent, {"max_id": self._max_id, "since": since}).all()
        count, flag = int(rows[0][0]), rows[0][1]
        seen = {i: u for _, _, i, u in rows if i is not None}
        stale = {i for _, _, i, u in rows if i is not None and self._seen.get(i) != u}
        # Ids a rolled-back transaction changed: the database says what they hold now.
        stale |= self._recheck
        self._recheck = set()
        changed = self._load(session, sorted(stale)) if stale else 0
        if len(self._seen) > 64:
            self._seen = {i: u for i, u in self._seen.items() if u >= since}
        # A difference that other sessions' open transactions explain is no missed row: the
        # full comparison below costs a scan of every id, so it is kept for the rest.
        if not self._unexplained(session, seen, len(self) - live_total(session, count, flag)):
            return changed
        return changed + self._reconcile(session)

    def _reconcile(self, session: Session) -> int:
        """Rows committed late with old timestamps, or deleted: compare the id sets."""
        live = Example.status != ExampleStatus.REJECTED
        present = np.fromiter(session.scalars(select(Example.id).where(live)), dtype=np.int64)
        alive = np.flatnonzero(np.frombuffer(self._alive, dtype=np.int8))
        held = np.array([self._id_at(s) for s in alive.tolist()], dtype=np.int64)
        gone = np.setdiff1d(held, present).tolist()
        for ex_id in gone:
            self.remove(ex_id)
            self._seen.pop(ex_id, None)
        missing = np.setdiff1d(present, held).tolist()
        return len(gone) + (self._load(session, missing) if missing else 0)

    # -- querying ---------------------------------------------------------------------------

    def _posting_len(self, code: str) -> int:
        recent = self._postings.get(code)
        return self._frozen.posting_len(ord(code)) + (len(recent) if recent is not None else 0)

    def _recent_posting(self, code: str) -> npt.NDArray[Any]:
        """Recent slots holding `code`, increasing (all after the frozen ones)."""
        recent = self._postings.get(code)
        if recent is None or not len(recent):
            return _NO_SLOTS
        return np.frombuffer(recent, dtype=np.int32)

    def _common_missing(
        self,
        slots: npt.NDArray[Any],
        counted: npt.NDArray[Any],
        bits: list[int],
        w: npt.NDArray[Any],
        start: int,
    ) -> npt.NDArray[Any]:
        """Per frozen slot, the weight of the query's tokens j >= max(start, counted) that have
        a common bit the slot does not hold (popcounts of the query's masks, one per weight)."""
        part = self._frozen
        missing = np.zeros(len(slots), dtype=np.int64)
        bit = np.array(bits, dtype=np.int64)
        bit[:start] = -1
        if not len(slots) or not (bit >= 0).any():
            return missing
        words = part.common[slots]  # one gather: (slots, COMMON_BITS // 32) uint32
        for weight in np.unique(w[bit >= 0]).tolist():
            mine = (bit >= 0) & (w == weight)
            for word in range(words.shape[1]):
                inword = mine & (bit >> 5 == word)
                if not inword.any():
                    continue
                one = np.where(inword, np.left_shift(1, bit & 31), 0).astype(np.uint32)
                # suffix[c]: the bits of tokens c.. (a slot whose count covers the tokens
                # before `counted` looks at the rest).
                suffix = np.zeros(len(one) + 1, dtype=np.uint32)
                suffix[:-1] = np.bitwise_or.accumulate(one[::-1])[::-1]
                lacks = suffix[counted] & ~words[:, word]
                missing += np.bitwise_count(lacks).astype(np.int64) * int(weight)
        return missing

    def _count_filter(
        self,
        slots: npt.NDArray[Any],
        margin: npt.NDArray[Any],
        counted: npt.NDArray[Any],
        codes: list[str],
        w: npt.NDArray[Any],
        verify_at: int,
    ) -> npt.NDArray[Any]:
        """The count filter: going through `codes` (the query's tokens, rarest first), a slot
        whose count does not cover token j yet (counted <= j) loses w[j] of its margin unless it
        holds the token; slots below 0 can no longer match. Stops once verify_at are left, or
        once a pass drops too few slots to pay for itself (what is left are mostly near copies
        that share the tokens, which order_bound and rapidfuzz tell apart).

        The tokens with a common bit go first, for every frozen slot at once (the deductions
        can be made in any order: each is a token the slot lacks). Otherwise membership is k
        binary searches in the token's posting (ordered by slot), or, when the
        part of the posting among the slots is shorter than those would cost, one pass over it
        through a scratch array holding each frozen slot's rank among `slots`.
        """
        part, n_frozen = self._frozen, self._frozen.n
        j = int(counted.min()) if len(slots) else len(codes)
        if self._scratch is None:
            self._scratch = np.zeros(n_frozen, dtype=np.int32)
        scratch = self._scratch
        marked = 0  # how many of slots[:cut] the scratch array holds ranks of
        slots = slots.astype(np.int32)  # postings' own type: others would convert the posting
        bits = [part.common_bit(ord(c)) for c in codes]
        live = len(slots)
        if live > verify_at and j < len(codes):
            # The tokens with a common bit, for every frozen slot at once: the cheapest test,
            # and the one that drops most slots (most are at margin 0).
            cut = int(np.searchsorted(slots, np.int32(n_frozen)))
            margin[:cut] -= self._common_missing(slots[:cut], counted[:cut], bits, w, j)
            live = int(np.count_nonzero(margin >= 0))
        recent_slots = bool(len(slots)) and int(slots[-1]) >= n_frozen
        # An iteration that drops fewer slots than this costs more than the checks of
        # order_bound and rapidfuzz it spares them (those grow with the query's length).
        stall = _STALL * 64 // max(int(w.sum()), 64)
        try:
            while live > verify_at and j < len(codes):
                if bits[j] >= 0 and not recent_slots:  # counted above
                    j += 1
                    continue
                if live < len(slots) * 3 // 4:  # drop the slots out of the running
                    keep = margin >= 0
                    if marked:
                        scratch[slots[:marked]] = 0
                        marked = 0
                    slots, margin, counted = slots[keep], margin[keep], counted[keep]
                cut = int(np.searchsorted(slots, np.int32(n_frozen)))
                code, weight = codes[j], int(w[j])
                # Frozen slots are ordered by length and longer texts have shorter prefixes:
                # those still to look at token j (counted <= j) are the last ones.
                t0 = int(np.count_nonzero(counted[:cut] > j))
                sub = slots[t0:cut]
                if len(sub) and bits[j] < 0:  # (tokens with a common bit are counted above)
                    a, b = int(sub[0]), int(sub[-1]) + 1
                    margin[t0:cut] -= weight
                    # A slot holds the code in its head or in its tail, not both.
                    for posting in (part.head_in(ord(code), a, b), part.tail_in(ord(code), a, b)):
                        if len(posting) < _SCAN_SHARE * len(sub):
                            if not len(posting):
                                continue
                            if not marked:
                                scratch[slots[:cut]] = np.arange(1, cut + 1, dtype=np.int32)
                                marked = cut
                            at = np.take(scratch, posting)  # 1-based rank among slots, 0: others
                            margin[at[at > 0] - 1] += weight
                        else:
                            pos = np.minimum(np.searchsorted(posting, sub), len(posting) - 1)
                            margin[t0 + np.flatnonzero(posting[pos] == sub)] += weight
                if cut < len(slots):
                    todo = (counted[cut:] <= j) * weight
                    margin[cut:] -= todo
                    recent = self._recent_posting(code)
                    if len(recent):
                        rest = slots[cut:]
                        pos = np.minimum(np.searchsorted(recent, rest), len(recent) - 1)
                        hit = np.flatnonzero(recent[pos] == rest)
                        margin[cut + hit] += todo[hit]
                was, live = live, int(np.count_nonzero(margin >= 0))
                j += 1
                if was - live < stall + live // 128:
                    break
        finally:
            if marked:
                scratch[slots[:marked]] = 0  # all zeros again for the next query
        result: npt.NDArray[Any] = slots[margin >= 0]
        return result

    def _prefix_survivors(
        self,
        frozen_parts: list[npt.NDArray[Any]],
        recent_parts: list[npt.NDArray[Any]],
        lo: int,
        req: npt.NDArray[Any],
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """Live slots in the parts (postings of frozen slots of lo..lo+len(req)-1 tokens, or of
        recent slots) held by at least req[length - lo] parts, and by how many more. Sorting
        costs what the parts hold, a bincount the slots of those lengths: the bincount only
        when the parts are a large share of them."""
        part, lengths = self._frozen, np.frombuffer(self._lengths, dtype=np.int32)
        first, end = part.length_slots(lo, lo + len(req) - 1)
        found: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]] = []
        total = sum(len(p) for p in frozen_parts)
        if total and total * _SORT_SHARE >= end - first:
            shared = np.bincount(np.concatenate(frozen_parts) - first, minlength=end - first)
            slots = np.flatnonzero(shared >= int(req.min())) + first
            found.append((slots, shared[slots - first] - req[part.lengths[slots] - lo]))
        elif total:
            slots, got = _distinct_counts(np.concatenate(frozen_parts))
            found.append((slots, got - req[lengths[slots] - lo]))
        if recent_parts:
            slots, got = _distinct_counts(np.concatenate(recent_parts))
            found.append((slots, got - req[lengths[slots] - lo]))
        if not found:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        slots = np.concatenate([f[0] for f in found])
        margin = np.concatenate([f[1] for f in found])
        alive = np.frombuffer(self._alive, dtype=np.int8)
        ok = (margin >= 0) & (alive[slots] == 1)
        return slots[ok], margin[ok]

    def _head_counts(
        self, heads: list[npt.NDArray[Any]], parts: list[npt.NDArray[Any]]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """The live frozen slots in `heads`, increasing, and how many of `parts` hold each
        (through the scratch array: one gather per entry of the parts)."""
        joined = np.sort(np.concatenate(heads)) if heads else _NO_SLOTS
        if len(joined):
            joined = joined[np.concatenate(([True], joined[1:] != joined[:-1]))]
        alive = np.frombuffer(self._alive, dtype=np.int8)
        found = joined[np.take(alive, joined) == 1].astype(np.int64)
        if not len(found):
            return found, np.empty(0, dtype=np.int64)
        if self._scratch is None:
            self._scratch = np.zeros(self._frozen.n, dtype=np.int32)
        scratch = self._scratch
        scratch[found] = np.arange(1, len(found) + 1, dtype=np.int32)
        try:
            at = np.take(scratch, np.concatenate(parts))
        finally:
            scratch[found] = 0
        got: npt.NDArray[Any] = np.bincount(at, minlength=len(found) + 1)[1:].astype(np.int64)
        return found, got

    def _prefix_heads(
        self,
        codes: list[str],
        weights: Counter[str],
        tops: npt.NDArray[Any],
        first: int,
        lo: int,
        room: npt.NDArray[Any],
    ) -> tuple[list[npt.NDArray[Any]], list[npt.NDArray[Any]]]:
        """For the query's prefix tokens (token j read for frozen slots first.. of up to
        tops[j] tokens): the head entries that pass the positional filter, and every entry,
        heads and tails, as often as the token's weight (for the count of prefix tokens).

        Positional filter: the first code x shares with the query, at position `pos` among
        x's n tokens in order, leaves at most n - pos to share: pos <= room[n - lo]. room does
        not decrease with n (one more token adds 1 to n and 0 or 1 to the need), and slots are
        ordered by length, so that is slot >= least[pos]: no gather of lengths."""
        part = self._frozen
        if not part.n:
            return [], []
        stops = np.searchsorted(part.lengths, tops.astype(part.lengths.dtype), side="right")
        where = np.array([ord(c) for c in codes], dtype=np.int64)
        where[where + 1 >= len(part.head_off)] = -1  # codes the frozen part never saw
        ranges = []
        for data, off in ((part.head, part.head_off), (part.tail, part.tail_off)):
            at = np.where(where >= 0, off[np.maximum(where, 0)], 0).tolist()
            to = np.where(where >= 0, off[np.maximum(where, 0) + 1], 0).tolist()
            bounds = np.empty(2, dtype=data.dtype)
            starts, sizes = [], []
            for a, b, stop in zip(at, to, stops.tolist(), strict=True):
                if b > a:
                    bounds[0], bounds[1] = first, stop
                    x, y = np.searchsorted(data[a:b], bounds).tolist()
                    a, b = a + x, a + y
                starts.append(a)
                sizes.append(b - a)
            ranges.append((np.array(starts, dtype=np.int64), np.array(sizes, dtype=np.int64)))
        (h_at, h_len), (t_at, t_len) = ranges
        positions = frozen.spans(h_at, h_len)
        found, pos = part.head[positions], part.head_pos[positions]
        # Per position, the least length whose room holds it, and that length's first slot.
        fits = lo + np.searchsorted(room, np.arange(frozen.POS_CAP + 1), side="left")
        least = np.searchsorted(part.lengths, fits.astype(part.lengths.dtype), side="left")
        heads = [found[found >= least[pos]]]
        # A token the query holds w times counts w times.
        extra = np.repeat(np.arange(len(codes)), [weights[c] - 1 for c in codes])
        parts = [found, part.tail[frozen.spans(t_at, t_len)]]
        if len(extra):
            parts.append(part.head[frozen.spans(h_at[extra], h_len[extra])])
            parts.append(part.tail[frozen.spans(t_at[extra], t_len[extra])])
        return heads, parts

    def _candidates(self, seq: str, threshold: float) -> npt.NDArray[Any]:
        """Slots that can still reach `threshold`: a sound filter, exact scores come later.

        ROUGE-L F1 >= t between m and n tokens needs LCS >= need(n) = ceil(t(m+n)/2), and LCS
        is at most the query tokens (with multiplicity) the text also holds. So (1) length
        bounds; (2) prefix filter: a text of n tokens holds one of the query's first tokens
        covering M - need(n) + 1 of its M known token occurrences, so a token is read only for
        the lengths whose prefix it is in, and frozen slots being ordered by length that is
        one slice of its posting; (3) count filter: going through the other tokens in the
        same order, drop slots whose shared count plus what is left cannot reach need(n);
        (4) before rapidfuzz, `order_bound` (in _score): LCS is at most the best split of a text
        into a part matching the query's first half and one matching its second.

        At a threshold of at least frozen.PREFIX_THRESHOLD the query's tokens go in the frozen
        part's total order (tokens it has never seen first), and a frozen slot is looked for
        only in the heads: with both sides' elements (token, k-th occurrence) in one total
        order, two token multisets sharing alpha elements share one among the first
        |x| - alpha + 1 of each (the prefix filter of all-pairs similarity joins), and a head
        is cut for the least alpha a partner of any length may have. Otherwise tokens go
        rarest first and the whole postings are read, counted as in (2).
        """
        m = len(seq)
        lo, hi = length_bounds(m, threshold)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        alive = np.frombuffer(self._alive, dtype=np.int8)
        if threshold <= 0:
            slots = np.flatnonzero(alive)
            return slots[(lengths[slots] >= lo) & (lengths[slots] <= hi)]
        weights = Counter(seq)
        weights.pop(_UNKNOWN, None)
        if not weights or hi < lo:
            return np.empty(0, dtype=np.int64)
        part = self._frozen
        headed = threshold >= frozen.PREFIX_THRESHOLD
        if headed:
            by_rarity = sorted(weights, key=lambda c: (part.place(ord(c)), ord(c)))
        else:
            sizes = {c: self._posting_len(c) for c in weights}
            by_rarity = sorted(weights, key=lambda c: sizes[c])
        w = np.array([weights[c] for c in by_rarity], dtype=np.int64)
        before = np.zeros(len(w) + 1, dtype=np.int64)  # weight of the tokens before each
        np.cumsum(w, out=before[1:])
        known = int(before[-1])
        need_at = np.ceil(threshold * (m + np.arange(lo, hi + 1)) / 2 - _EPS).astype(np.int64)
        # Per length, how many of the first tokens make its prefix (0: no text can match).
        prefix_at = np.searchsorted(before[:-1], known - need_at, side="right")
        used = int(prefix_at[0])
        if used == 0:
            return np.empty(0, dtype=np.int64)
        first, _ = part.length_slots(lo, hi)
        room = np.arange(lo, hi + 1) - need_at  # per length, tokens that may go unshared
        frozen_parts: list[npt.NDArray[Any]] = []
        heads: list[npt.NDArray[Any]] = []
        recent_parts: list[npt.NDArray[Any]] = []
        # Per prefix token, the longest length it serves (prefix_at does not increase).
        tops = lo + np.searchsorted(-prefix_at, -np.arange(used), side="left") - 1
        if headed:
            heads, frozen_parts = self._prefix_heads(
                by_rarity[:used], weights, tops, first, lo, room
            )
        for j, code in enumerate(by_rarity[:used]):
            top = int(tops[j])
            if not headed:
                _, stop = part.length_slots(lo, top)
                found = part.head_in(ord(code), first, stop)
                # Every slot holding a prefix token is counted (for the count filter's start).
                frozen_parts += [found, part.tail_in(ord(code), first, stop)] * weights[code]
            recent = self._recent_posting(code)
            if len(recent):
                n = lengths[recent]
                recent_parts += [recent[(n >= lo) & (n <= top)]] * weights[code]
        left_from = known - before  # weight of each token and the ones after it
        # Per length, the count of prefix tokens a text needs: LCS <= that count plus the
        # weight of the tokens after its prefix.
        req = need_at - left_from[prefix_at]
        if headed:
            slots, margin = self._prefix_survivors([], recent_parts, lo, req)
            found, got = self._head_counts(heads, frozen_parts)
            # got = the slot's count of prefix tokens: it needs req of them.
            got -= req[lengths[found] - lo]
            ok = got >= 0
            slots = np.concatenate((found[ok], slots))
            margin = np.concatenate((got[ok], margin))
        else:
            slots, margin = self._prefix_survivors(frozen_parts, recent_parts, lo, req)
        counted = prefix_at[lengths[slots] - lo]  # the tokens each slot's count covers
        # margin = shared count + weight not yet looked at - need: a slot goes below 0 for good.
        verify_at = max(8, _VERIFY_AT * 64 // max(m, 64))
        return self._count_filter(slots, margin, counted, by_rarity, w, verify_at)

    def _search(
        self, seq: str, k: int, threshold: float, exclude_id: int | None
    ) -> list[NearMatch]:
        if not seq or k <= 0 or not self._live:
            return []
        with self._lock:
            return self._score(seq, k, threshold, exclude_id)

    def _score(self, seq: str, k: int, threshold: float, exclude_id: int | None) -> list[NearMatch]:
        slots = self._candidates(seq, threshold)
        if len(slots) == 0:
            return []
        # Slots are increasing: the frozen ones first.
        cut = int(np.searchsorted(slots, self._frozen.n))
        recent = slots[cut:]
        kept, choices = self._frozen_choices(seq, slots[:cut], threshold)
        slots = np.concatenate((kept, recent))
        choices += [self._seq_at(s) for s in recent.tolist()]
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
            ex_id = self._id_at(slot)
            if ex_id == exclude_id or score < threshold - _EPS:
                continue
            slug = self._slugs[self._cat_at(slot)]
            out.append(NearMatch(ex_id, float(score), slug, self._text_at(slot)))
        # Best first; ties by lower (older) id so results are stable.
        out.sort(key=lambda n: (-n.score, n.example_id))
        return out[:k]

    def _frozen_choices(
        self, seq: str, slots: npt.NDArray[Any], threshold: float
    ) -> tuple[npt.NDArray[Any], list[str]]:
        """The frozen slots among `slots` that order_bound lets reach `threshold`, and their
        codes as strings (for rapidfuzz): one gather serves both."""
        part = self._frozen
        if not len(slots):
            return slots, []
        run, off = part.gather(slots)
        which = np.arange(len(slots))
        if threshold > 0 and len(slots) > _ORDER_CHECK_AT:
            m, n = len(seq), np.diff(off)
            need = np.ceil(threshold * (m + n) / 2 - _EPS).astype(np.int64)
            which = np.flatnonzero(order_bound(seq, run, off, self._labels()) >= need)
        return slots[which], part.decode(run, off, which)

    def _labels(self) -> npt.NDArray[Any]:
        """Zeros, one per code of the frozen part, that order_bound marks and clears."""
        if self._label_scratch is None or len(self._label_scratch) < len(self._frozen.order):
            self._label_scratch = np.zeros(len(self._frozen.order) + 1, dtype=np.int8)
        return self._label_scratch

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

    def live_slots(self) -> npt.NDArray[np.int64]:
        """The slots of every indexed example, in slot order (the order ties are broken in)."""
        with self._lock:
            alive: npt.NDArray[np.int64] = np.flatnonzero(np.frombuffer(self._alive, np.int8))
        return alive

    def coded_at(self, slots: npt.NDArray[np.int64]) -> list[str]:
        """The texts in these slots, as `encode_many` codes them."""
        n = self._frozen.n
        frozen = slots[slots < n]
        out: list[str] = []
        if len(frozen):
            run, off = self._frozen.gather(frozen)
            out = self._frozen.decode(run, off, np.arange(len(frozen)))
        return out + [self._seqs[s - n] for s in slots[slots >= n].tolist()]

    def match_at(self, slot: int, score: float) -> NearMatch:
        """The example in `slot`, as a match scoring `score`."""
        return NearMatch(
            self._id_at(slot), score, self._slugs[self._cat_at(slot)], self._text_at(slot)
        )

    def nearest_coded(
        self, seq: str, *, k: int = 5, threshold: float = 0.7, exclude_id: int | None = None
    ) -> list[NearMatch]:
        """`nearest` for a text already encoded by `encode_many`."""
        return self._search(seq, k, threshold, exclude_id)

    def encode_many(self, texts: Sequence[str]) -> list[str]:
        """Each text's tokens as one code point each (the form the index compares), giving
        tokens the index has never seen codes of their own."""
        # pyarrow (the tokens' hash table) loads only for batches: not for every importer.
        from store.quality.token_stream import coded_texts, token_stream

        stream = token_stream(texts)
        with self._lock:
            codes = self._encode(stream.distinct, grow=True)
        # Each token's code, text after text, cut at the texts' bounds.
        points = np.frombuffer(codes.encode("utf-32-le"), dtype=np.uint32)[stream.ids]
        return coded_texts(points, stream.bounds)

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


def order_bound(
    seq: str, run: npt.NDArray[Any], off: npt.NDArray[Any], labels: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """Per text (its codes run[off[i]:off[i + 1]]), an upper bound on its LCS with `seq`.

    A common subsequence of seq = A + B (its halves) and a text x matches a prefix x[:t] to A
    and the rest to B, so LCS <= max over t of (x[:t]'s tokens in A) + (x[t:]'s tokens in B):
    shuffled words, which the count filter cannot tell from a copy, score about half.
    `labels`: zeros at least as long as the largest code in `run` (left as zeros).
    """
    codes = np.frombuffer(seq.encode("utf-32-le"), dtype=np.uint32)
    halves = codes[: len(codes) // 2], codes[len(codes) // 2 :]
    # Codes the texts of `run` may hold (0 is no token's).
    first, second = (h[(h > 0) & (h < len(labels))] for h in halves)
    try:
        labels[first] |= 1
        labels[second] |= 2
        lab = np.take(labels, run)  # (take: twice as fast as [] with a uint16 index)
    finally:
        labels[first] = 0
        labels[second] = 0
    # d: +1 for a token of A only, -1 for one of B only; D its running sum from each start.
    in_second = lab >> 1
    d = (lab & 1) - in_second
    total = np.zeros(len(run) + 1, dtype=np.int32)
    np.cumsum(d, dtype=np.int32, out=total[1:])
    starts, ends = off[:-1], off[1:]
    bound = np.zeros(len(starts), dtype=np.int64)
    nonempty = np.flatnonzero(ends > starts)
    if not len(nonempty):
        return bound
    at, to = starts[nonempty], ends[nonempty]
    # max over t of A(x[:t]) - B(x[:t]), plus x's tokens in B.
    best = np.maximum(np.maximum.reduceat(total[:-1], at), total[to]) - total[at]
    in_b = np.add.reduceat(in_second, at, dtype=np.int64)
    bound[nonempty] = best + in_b
    return bound


def _pending_of(session: Session) -> dict[DedupIndex, set[int]]:
    """The ids each index holds provisionally for `session`'s open transaction; on first use
    in a session, listeners that settle them when the transaction ends."""
    pending: dict[DedupIndex, set[int]] | None = session.info.get(_PENDING)
    if pending is None:
        if not session.info.get(_PENDING + ".listening"):
            session.info[_PENDING + ".listening"] = True
            event.listen(session, "after_commit", _after_commit)
            event.listen(session, "after_transaction_end", _after_transaction_end)
        pending = session.info[_PENDING] = {}
    return pending


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for index in pending or ():
        index._committed(pending)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended and after_commit did not take its ids: a rollback, or a
    # close without commit. (A savepoint's end is not the transaction's.)
    if transaction.parent is not None:
        return
    pending = session.info.pop(_PENDING, None)
    for index in pending or ():
        index._rolled_back(pending)
