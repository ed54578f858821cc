"""The frozen part of the near-duplicate index: exact against brute force, saved as a snapshot
that a process maps and catches up from, and a catch-up that reads only what changed."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import Indel
from sqlalchemy import delete, insert, update

from bot.cli import main
from bot.config import load_settings
from bot.runtime import Runtime
from bot.scheduler.jobs import dedup_snapshot_job
from store.enums import ExampleStatus, Origin
from store.models import Category, Example
from store.quality.dedup import DedupIndex, order_bound, prompt_text, tokenize
from store.quality.frozen import (
    COMMON_BITS,
    PartBuilder,
    new_text_file,
    prefix_length,
    spans,
)
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.factories import example, person

VOCAB = [f"w{i}" for i in range(40)] + ["the", "a", "of", "to", "and"]


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(VOCAB, k=rng.randint(1, 16))) for _ in range(n)]


def _brute(tokens: dict[int, list[str]], query: str, threshold: float) -> set[int]:
    """Every text scoring >= threshold, by scoring them all (rapidfuzz on token lists)."""
    found = process.extract(
        tokenize(query),
        tokens,
        scorer=Indel.normalized_similarity,
        processor=None,
        score_cutoff=threshold - 1e-6,
        limit=None,
    )
    return {key for _, score, key in found if score >= threshold - 1e-9}


def test_frozen_and_recent_slots_give_exactly_the_brute_force_matches() -> None:
    texts = dict(enumerate(_texts(21_000, seed=5)))
    index = DedupIndex()
    assert index.add_many((i, t, "c") for i, t in texts.items()) == len(texts)  # frozen
    assert index._frozen.n == len(texts)
    # Recent additions, a re-indexed frozen entry and a removed one.
    extra = _texts(300, seed=6)
    for j, t in enumerate(extra, start=len(texts)):
        index.add(j, t, "d")
        texts[j] = t
    index.add(3, "w1 w2 w3 w4 w5 w6", "c")
    texts[3] = "w1 w2 w3 w4 w5 w6"
    index.remove(7)
    del texts[7]
    assert len(index) == len(texts) and 7 not in index and 3 in index
    rng = random.Random(9)
    tokens = {i: tokenize(t) for i, t in texts.items()}
    for query in rng.sample(list(texts.values()), 15) + _texts(5, seed=10):
        for threshold in (0.5, 0.7, 0.9):
            got = {h.example_id for h in index.nearest(query, k=100_000, threshold=threshold)}
            assert got == _brute(tokens, query, threshold), (query, threshold)
    hit = index.nearest("w1 w2 w3 w4 w5 w6", k=1)[0]
    assert (hit.example_id, hit.text, hit.category_slug) == (3, "w1 w2 w3 w4 w5 w6", "c")


def _seed(db: TestDatabase) -> dict[int, str]:
    with db.session() as s:
        ann = person(s, "U1")
        rng = random.Random(2)
        out = {}
        for n in range(60):
            words = " ".join(rng.choices(VOCAB, k=rng.randint(6, 14)))
            ex = example(s, ann, instruction=f"Please explain {words} {n}")
            out[ex.id] = prompt_text(ex.instruction, ex.context)
        gone = example(s, ann, instruction="A rejected question about rivers?")
        gone.status = ExampleStatus.REJECTED
        return out


def test_a_snapshot_loads_maps_and_catches_up(db: TestDatabase, tmp_path: Path) -> None:
    texts = _seed(db)
    snap = tmp_path / "dedup"
    with db.session() as s:
        assert DedupIndex.write_snapshot(s, snap) == len(texts)
        assert DedupIndex.write_snapshot(s, snap) == len(texts)  # replaced atomically
    assert snap.is_symlink() and len(list(tmp_path.iterdir())) == 2  # the link, one dir
    index = DedupIndex.open(snap)
    assert len(index) == len(texts) and index._frozen.n == len(texts)
    with db.session() as s:
        assert index.sync(s) == 0  # nothing new since the snapshot
        built = DedupIndex.from_session(s)
    for query in list(texts.values())[:20]:
        assert index.nearest(query, k=3) == built.nearest(query, k=3)
    first = min(texts)
    # Changes after the snapshot: a new row, an edit, a rejection, a deletion.
    with db.session() as s:
        new = example(s, person(s, "U2"), instruction="Which rivers flow through Vienna today?")
        s.execute(
            update(Example)
            .where(Example.id == first)
            .values(instruction="How do bees make honey in winter?")
        )
        s.execute(
            update(Example).where(Example.id == first + 1).values(status=ExampleStatus.REJECTED)
        )
        s.execute(delete(Example).where(Example.id == first + 2))
        new_id = new.id
    with db.session() as s:
        assert index.sync(s) == 4
        assert index.sync(s) == 0
    assert len(index) == len(texts) - 2 + 1
    assert index.nearest("Which rivers flow through Vienna today?")[0].example_id == new_id
    assert index.nearest("how do bees make honey in winter")[0].example_id == first
    assert first not in {h.example_id for h in index.nearest(texts[first], k=5)}
    assert first + 1 not in index and first + 2 not in index


def test_a_row_committed_late_with_an_old_timestamp_is_found_by_the_live_count(
    db: TestDatabase,
) -> None:
    texts = _seed(db)
    with db.session() as s:
        index = DedupIndex.from_session(s)
        cat_id = s.query(Category.id).filter(Category.slug == "open_qa").scalar()
        old = min(texts)
        before = s.get(Example, old)
        assert before is not None
        long_ago = before.updated_at
    with db.session() as s:
        s.execute(
            insert(Example),
            [
                {
                    "id": 0,  # lower than every id the index has seen
                    "category_id": cat_id,
                    "instruction": "An imported question about glaciers and fjords?",
                    "context": "",
                    "response": "Yes.",
                    "status": ExampleStatus.APPROVED,
                    "origin": Origin.IMPORTED,
                    "content_hash": "z" * 64,
                    "flags": [],
                    "created_at": long_ago,
                    "updated_at": long_ago,
                }
            ],
        )
    with db.session() as s:
        assert index.sync(s) == 1
        assert index.sync(s) == 0
    assert index.nearest("an imported question about glaciers and fjords")


def test_opening_a_snapshot_of_another_version_is_refused(tmp_path: Path) -> None:
    snap = tmp_path / "dedup"
    snap.mkdir()
    (snap / "meta.json").write_text('{"version": 99}', encoding="utf-8")
    with pytest.raises(ValueError, match="version 99"):
        DedupIndex.open(snap)


def test_db_upgrade_writes_the_snapshot_that_processes_map(
    db: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = _seed(db)
    snap = tmp_path / "index"
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_DEDUP_SNAPSHOT", str(snap))
    assert main(["db", "upgrade"]) == 0
    assert f"snapshot: {len(texts)} examples" in capsys.readouterr().out
    rt = Runtime(load_settings())
    try:
        gate = rt.quality_gate
        assert gate.index._frozen.n == len(texts)  # mapped, not rebuilt
        with db.session() as s:
            example(s, person(s, "U3"), instruction="Name three rivers that cross Bavaria.")
        with db.session() as s:
            assert gate.sync(s) == 1
        assert dedup_snapshot_job(utcnow(), write=rt.write_dedup_snapshot) == {
            "examples": len(texts) + 1
        }
        assert DedupIndex.open(snap)._frozen.n == len(texts) + 1
    finally:
        rt.close()
    monkeypatch.delenv("CROWDTUNE_DEDUP_SNAPSHOT")
    rt = Runtime(load_settings())
    result = dedup_snapshot_job(utcnow(), write=rt.write_dedup_snapshot)
    assert "CROWDTUNE_DEDUP_SNAPSHOT" in str(result["skipped"])
    rt.close()


def test_codes_widen_when_the_vocabulary_outgrows_two_bytes() -> None:
    builder = PartBuilder(new_text_file())
    seqs = ["\x01\x02", "\ud7ff\x05", "\U00010000\x03", "\x07\x03"]
    for i, seq in enumerate(seqs):
        builder.add(i, seq, f"text {i}", 0)
    part = builder.freeze(0x10001)
    assert part.codes.dtype.itemsize == 4
    assert [part.seq(i) for i in range(4)] == seqs
    assert part.posting(3).tolist() == [2, 3] and part.text_of(2) == "text 2"


def test_long_texts_of_many_lengths_give_exactly_the_brute_force_matches() -> None:
    # Long queries: per-length prefixes differ, so the count filter meets slots whose count
    # covers different tokens; near copies make the candidates pass the filters.
    rng = random.Random(11)
    vocab = [f"v{i}" for i in range(300)] + ["the", "a", "of", "to", "and"] * 20
    base = [rng.choices(vocab, k=rng.randint(20, 120)) for _ in range(400)]
    texts: dict[int, str] = {}
    for i in range(24_000):
        words = list(base[i % len(base)])
        for _ in range(rng.randint(0, len(words) // 3)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        texts[i] = " ".join(words[: rng.randint(len(words) // 2, len(words))])
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in texts.items())
    for j in range(len(texts), len(texts) + 200):  # recent slots too
        texts[j] = " ".join(rng.choice(base))
        index.add(j, texts[j], "d")
    tokens = {i: tokenize(t) for i, t in texts.items()}
    for query in rng.sample(list(texts.values()), 12):
        for threshold in (0.6, 0.7, 0.85):
            got = {h.example_id for h in index.nearest(query, k=100_000, threshold=threshold)}
            assert got == _brute(tokens, query, threshold), (query, threshold)


def test_frozen_slots_are_ordered_by_length_and_keep_the_last_of_an_id() -> None:
    builder = PartBuilder(new_text_file())
    rows = [(5, "\x01\x02\x03", "a"), (2, "\x02", "b"), (9, "\x01\x03", "c"), (2, "\x03\x01", "d")]
    for ex_id, seq, text in rows:
        builder.add(ex_id, seq, text, 0)
    part = builder.freeze(4)
    assert part.lengths.tolist() == [2, 2, 3]  # id 2's first row is gone
    assert [(int(part.ids[s]), part.seq(s), part.text_of(s)) for s in range(3)] == [
        (9, "\x01\x03", "c"),
        (2, "\x03\x01", "d"),
        (5, "\x01\x02\x03", "a"),
    ]
    assert part.seqs(np.arange(3)) == [part.seq(s) for s in range(3)]
    assert [part.slot_of_id(i) for i in (2, 5, 9, 4)] == [1, 2, 0, None]
    assert part.posting(1).tolist() == [0, 1, 2] and part.posting(2).tolist() == [2]
    assert part.length_slots(2, 2) == (0, 2) and part.posting_in(1, 1, 3).tolist() == [1, 2]


def test_heads_positions_and_common_bits_agree_with_the_texts() -> None:
    # Per slot: the codes in its head are those whose first occurrence comes within its
    # prefix_length in `order`, head_pos says where, and `common` bits match the postings.
    rng = random.Random(3)
    vocab = [f"x{i}" for i in range(120)] + ["the", "a", "of"] * 30
    texts = {i: " ".join(rng.choices(vocab, k=rng.randint(1, 40))) for i in range(21_000)}
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in texts.items())
    part = index._frozen
    place = np.asarray(part.order)
    n_codes = len(place)
    for slot in rng.sample(range(part.n), 300):
        seq = part.seq(slot)
        ordered = sorted(place[ord(c)] for c in seq)
        cut = int(prefix_length(np.array([len(seq)]))[0])
        for code in set(map(ord, seq)):
            first = ordered.index(place[code])
            in_head = slot in part.head_posting(code).tolist()
            assert in_head == (first < cut)
            assert (slot in part.tail_posting(code).tolist()) == (not in_head)
            if in_head:
                head, pos = part.head_in_at(code, slot, slot + 1)
                assert head.tolist() == [slot] and int(pos[0]) == min(first, 255)
            bit = part.common_bit(code)
            if bit >= 0:
                assert bool(part.holds_common(np.array([slot]), bit)[0])
        held = {part.common_bit(ord(c)) for c in seq} - {-1}
        for bit in range(COMMON_BITS):
            code = int(np.flatnonzero(place == n_codes - 1 - bit)[0])
            if bit not in held:
                assert not part.holds_common(np.array([slot]), bit)[0], (slot, code)


def test_near_copies_and_shuffles_at_and_above_the_prefix_threshold_match_brute_force() -> None:
    # Repeated tokens (multisets), near copies, shuffled copies and vocabulary added after
    # the freeze: the head/positional filters must drop no pair that reaches the threshold.
    rng = random.Random(21)
    vocab = [f"y{i}" for i in range(200)] + ["the", "a", "of", "to"] * 25
    base = [rng.choices(vocab, k=rng.randint(4, 90)) for _ in range(300)]
    texts: dict[int, str] = {}
    for i in range(22_000):
        words = list(base[i % len(base)])
        if i % 3 == 0:
            rng.shuffle(words)
        for _ in range(rng.randint(0, max(1, len(words) // 4))):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        texts[i] = " ".join(words[: rng.randint(max(1, len(words) * 2 // 3), len(words))])
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in texts.items())
    for j in range(len(texts), len(texts) + 150):  # recent slots, some with new tokens
        words = list(rng.choice(base))
        words[rng.randrange(len(words))] = f"new{j % 7}"
        texts[j] = " ".join(words)
        index.add(j, texts[j], "d")
    tokens = {i: tokenize(t) for i, t in texts.items()}
    queries = rng.sample(list(texts.values()), 10)
    for q in list(queries):
        words = q.split()
        rng.shuffle(words)
        queries.append(" ".join(words))
        queries.append(q + " new3 y7 y7")
    for query in queries:
        for threshold in (0.7, 0.72, 0.8, 0.95, 1.0):
            got = {h.example_id for h in index.nearest(query, k=100_000, threshold=threshold)}
            assert got == _brute(tokens, query, threshold), (query, threshold)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 14), max_size=30),
    st.lists(st.lists(st.integers(1, 12), max_size=30), min_size=1, max_size=8),
)
def test_order_bound_is_never_below_the_lcs(query: list[int], texts: list[list[int]]) -> None:
    # Query codes 13 and 14 are beyond the labels (vocabulary the frozen part never saw).
    seq = "".join(map(chr, query))
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    off = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    run = np.array([c for t in texts for c in t], dtype=np.uint16)
    labels = np.zeros(13, dtype=np.int8)
    bound = order_bound(seq, run, off, labels)
    assert not labels.any()  # left as zeros for the next query
    for text, b in zip(texts, bound.tolist(), strict=True):
        lcs = Indel.similarity(seq, "".join(map(chr, text))) // 2 if seq else 0
        # Indel similarity is m + n - distance = 2 * LCS.
        assert lcs <= b <= sum(1 for c in text if chr(c) in seq), (seq, text)


def test_order_bound_halves_a_shuffled_copy() -> None:
    rng = random.Random(3)
    words = list(range(1, 81))
    query = "".join(map(chr, words))
    shuffled = words[:]
    rng.shuffle(shuffled)
    run = np.array(shuffled + words, dtype=np.uint16)
    off = np.array([0, 80, 160], dtype=np.int64)
    bound = order_bound(query, run, off, np.zeros(100, dtype=np.int8)).tolist()
    assert bound[1] == 80  # the copy itself
    assert bound[0] < 0.7 * 80  # a shuffle can no longer reach ROUGE-L 0.7


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**31 + 10), st.integers(0, 5)), max_size=12))
def test_spans_lists_every_position_of_every_span(pairs: list[tuple[int, int]]) -> None:
    starts = np.array([s for s, _ in pairs], dtype=np.int64)
    lengths = np.array([n for _, n in pairs], dtype=np.int64)
    expected = [p for s, n in pairs for p in range(s, s + n)]
    assert spans(starts, lengths).tolist() == expected
