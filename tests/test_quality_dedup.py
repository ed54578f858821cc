"""Near-duplicate index: ROUGE-L F1 equals rouge-score's, real near-duplicates are caught."""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Indel
from rouge_score import rouge_scorer

from store.quality.dedup import DedupIndex, length_bounds, rouge_l_f1, tokenize
from tests.conftest import FIXTURES, SHARED

PAIRS = [json.loads(line) for line in (FIXTURES / "quality_near_duplicates.jsonl").open()]
SEED_TASKS = SHARED / "datasets" / "self_instruct_seed_tasks.jsonl"
USER_TASKS = SHARED / "datasets" / "self_instruct_user_oriented_instructions.jsonl"
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference_f1(a: str, b: str) -> float:
    """ROUGE-L F1 as Self-Instruct computed it: the rouge-score package, no stemming."""
    return float(SCORER.score(a, b)["rougeL"].fmeasure)


def real_instructions() -> list[str]:
    """The human-written Self-Instruct instructions (stand-in for Dolly/Alpaca), read here."""
    paths = [SEED_TASKS, USER_TASKS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"shared datasets not found at {SEED_TASKS.parent}")
    out: list[str] = []
    for path in paths:
        out.extend(json.loads(line)["instruction"] for line in path.open())
    return out


def test_tokenize_lowercases_and_drops_punctuation() -> None:
    assert tokenize("Don't STOP—believing, in_2024!") == [
        "don",
        "t",
        "stop",
        "believing",
        "in",
        "2024",
    ]
    assert tokenize("  ...  ") == []
    assert tokenize("Café Übersicht") == ["café", "übersicht"]


def _regex_tokens(text: str) -> list[str]:
    """The tokenizer's definition: runs of word characters other than "_", casefolded."""
    return re.findall(r"[^\W_]+", text.casefold())


def test_tokenize_equals_the_regex_on_every_code_point() -> None:
    # The fast paths (ASCII translate; a few separators replaced) must find the regex's runs
    # whatever the character: each code point alone, between ASCII letters, and among
    # non-ASCII letters (16 at a time, fewer separators than the regex fallback needs).
    for c in map(chr, range(128)):
        for text in (c, f"A{c}b", f"x{c}{c}Y9"):
            assert tokenize(text) == _regex_tokens(text), repr(text)
    points = [chr(c) for c in range(128, 0x110000)]
    for start in range(0, len(points), 16):
        chunk = points[start : start + 16]
        for text in ("é".join(chunk), "a" + "Zß ".join(chunk) + "!", "".join(chunk)):
            assert tokenize(text) == _regex_tokens(text), [hex(ord(c)) for c in chunk]


def test_tokenize_equals_the_regex_on_real_and_punctuation_heavy_text() -> None:
    texts = real_instructions()
    # Many distinct separators in one non-ASCII text: the regex fallback.
    texts.append("Ünïcode " + " x".join(map(chr, range(0x2010, 0x2070))) + "_end_")
    texts.append("ASCII, tabs\tand\nnew lines; under_scores & CAPS 123abc!")
    for text in texts:
        assert tokenize(text) == _regex_tokens(text), text


def test_rouge_l_matches_rouge_score_on_real_instruction_pairs() -> None:
    texts = [p["original"] for p in PAIRS] + [p["variant"] for p in PAIRS]
    for a, b in itertools.product(texts, repeat=2):
        assert rouge_l_f1(a, b) == pytest.approx(reference_f1(a, b), abs=1e-9), (a, b)


def test_rouge_l_matches_rouge_score_on_the_shared_instructions() -> None:
    texts = real_instructions()
    rng = random.Random(7)
    for _ in range(400):
        a, b = rng.sample(texts, 2)
        assert rouge_l_f1(a, b) == pytest.approx(reference_f1(a, b), abs=1e-9), (a, b)


WORDS = st.sampled_from(["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "Big", "red!", "x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=25), st.lists(WORDS, max_size=25))
def test_rouge_l_equals_rouge_score_on_random_token_sequences(a: list[str], b: list[str]) -> None:
    sa, sb = " ".join(a), " ".join(b)
    assert rouge_l_f1(sa, sb) == pytest.approx(reference_f1(sa, sb), abs=1e-9)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p['kind']}:{p['variant'][:30]}")
def test_fixture_pairs_score_on_the_right_side_of_0_7(pair: dict[str, object]) -> None:
    score = rouge_l_f1(str(pair["original"]), str(pair["variant"]))
    assert (score >= 0.7) is pair["caught"], score


def test_index_finds_each_variant_original_among_real_instructions() -> None:
    corpus = real_instructions() + sorted({str(p["original"]) for p in PAIRS})
    index = DedupIndex()
    for i, text in enumerate(corpus, start=1):
        index.add(i, text, "open_qa")
    ids = {text: i for i, text in enumerate(corpus, start=1)}
    for pair in PAIRS:
        hits = index.nearest(str(pair["variant"]), k=3, threshold=0.7)
        if pair["caught"]:
            assert hits, pair
            assert hits[0].example_id == ids[str(pair["original"])]
            assert hits[0].text == pair["original"]
            assert hits[0].category_slug == "open_qa"
            assert hits[0].score == pytest.approx(rouge_l_f1(str(pair["variant"]), hits[0].text))
        else:
            assert all(h.example_id != ids[str(pair["original"])] for h in hits)


def _mutations(text: str, rng: random.Random) -> dict[str, str]:
    """Edits people make when they copy an instruction: case, punctuation, one word changed."""
    words = text.split()
    swapped = list(words)
    i = rng.randrange(len(words))
    swapped[i] = "something"
    dropped = words[: len(words) // 2] + words[len(words) // 2 + 1 :]
    return {
        "case": text.upper(),
        "punctuation": re.sub(r"[,.?!:;]", "", text) + " ?!",
        "one_word_replaced": " ".join(swapped),
        "one_word_dropped": " ".join(dropped),
    }


def test_mutated_real_instructions_are_caught_and_distinct_ones_are_not() -> None:
    corpus = real_instructions()
    index = DedupIndex()
    for i, text in enumerate(corpus):
        index.add(i, text, "general_qa")
    rng = random.Random(3)
    long_enough = [i for i, t in enumerate(corpus) if len(tokenize(t)) >= 10]
    for i in rng.sample(long_enough, 60):
        for kind, variant in _mutations(corpus[i], rng).items():
            hits = index.nearest(variant, k=5, threshold=0.7)
            assert i in {h.example_id for h in hits}, (kind, corpus[i], variant)
    # Distinct instructions: the index reports exactly the pairs brute force finds >= 0.7,
    # and those are few (templated one-liners like "Write a … based on the given facts.").
    tokens = [tokenize(t) for t in corpus]
    brute = {
        (a, b)
        for a, b in itertools.combinations(range(len(corpus)), 2)
        if Indel.normalized_similarity(tokens[a], tokens[b]) >= 0.7
    }
    found = {
        (min(i, h.example_id), max(i, h.example_id))
        for i, hits in enumerate(index.nearest_many(corpus, k=50, threshold=0.7))
        for h in hits
        if h.example_id != i
    }
    assert found == brute
    assert len(brute) < 0.001 * len(corpus) ** 2 / 2


def test_prefilter_never_drops_a_match_found_by_brute_force() -> None:
    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(1, 14))) for _ in range(400)]
    index = DedupIndex()
    for i, t in enumerate(texts):
        index.add(i, t, "c")
    for threshold in (0.3, 0.5, 0.7, 0.9):
        for q in texts[:60]:
            expected = {i for i, t in enumerate(texts) if rouge_l_f1(q, t) >= threshold}
            got = {h.example_id for h in index.nearest(q, k=1000, threshold=threshold)}
            assert got == expected, (threshold, q)


def test_length_bounds_are_the_rouge_l_limits() -> None:
    assert length_bounds(10, 0.7) == (6, 18)
    assert length_bounds(10, 1.0) == (10, 10)
    # Tight: a 6-token text inside a 10-token one scores exactly 2*6/16 = 0.75 >= 0.7.
    assert rouge_l_f1("a b c d e f", "a b c d e f g h i j") == pytest.approx(0.75)


def test_results_are_best_first_limited_to_k_and_exclude_works() -> None:
    index = DedupIndex()
    base = "Name three rivers that flow through Germany and say where each one starts"
    index.add(1, base, "open_qa")
    index.add(2, base + " today", "open_qa")
    index.add(3, base.replace("three", "four"), "brainstorming")
    index.add(4, "How do I bake sourdough bread at home without a mixer?", "open_qa")
    hits = index.nearest(base, k=2)
    assert [h.example_id for h in hits] == [1, 2]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.example_id for h in index.nearest(base, k=5, exclude_id=1)] == [2, 3]
    assert index.nearest("", k=5) == []
    assert index.nearest("completely unseen vocabulary words here", k=5) == []


def test_add_replaces_and_remove_forgets() -> None:
    index = DedupIndex()
    index.add(1, "Describe the water cycle for a ten year old child", "open_qa")
    assert len(index) == 1 and 1 in index
    index.add(1, "List the planets of the solar system in order from the sun", "open_qa")
    assert len(index) == 1
    assert index.nearest("Describe the water cycle for a ten year old child") == []
    assert index.nearest("list the planets of the solar system in order from the sun")[0].score == 1
    index.remove(1)
    index.remove(99)
    assert len(index) == 0
    assert index.nearest("List the planets of the solar system in order from the sun") == []


def test_in_batch_use_without_a_database(tmp_path: Path) -> None:
    # The exporter and the importer use an empty index to dedup a batch as they go.
    batch = [p["original"] for p in PAIRS] + [p["variant"] for p in PAIRS if p["caught"]]
    index = DedupIndex()
    kept = []
    for i, text in enumerate(batch):
        if not index.nearest(str(text), k=1, threshold=0.7):
            index.add(i, str(text), "x")
            kept.append(text)
    assert sorted(kept) == sorted({str(p["original"]) for p in PAIRS})


def test_index_built_in_batches_answers_like_an_exhaustive_scan() -> None:
    # Several add_many calls (as sync does), re-indexed and removed entries, long texts.
    rng = random.Random(5)
    vocab = [f"t{i}" for i in range(60)] + ["the"] * 20
    texts = {i: " ".join(rng.choices(vocab, k=rng.randint(3, 300))) for i in range(600)}
    index = DedupIndex()
    items = list(texts.items())
    for start in range(0, len(items), 150):
        index.add_many((i, t, "c") for i, t in items[start : start + 150])
    for i in range(0, 600, 7):
        texts[i] = " ".join(rng.choices(vocab, k=rng.randint(3, 300)))
        index.add(i, texts[i], "c")
    for i in range(3, 600, 11):
        index.remove(i)
        del texts[i]
    queries = [texts[i] for i in list(texts)[:40]]
    queries += [" ".join(rng.choices(vocab, k=rng.randint(3, 300))) for _ in range(20)]
    tokens = {i: tokenize(t) for i, t in texts.items()}
    for q in queries:
        tq = tokenize(q)
        expected = {i for i, t in tokens.items() if Indel.normalized_similarity(tq, t) >= 0.6}
        got = {h.example_id for h in index.nearest(q, k=10_000, threshold=0.6)}
        assert got == expected


def test_threads_can_query_and_add_at_the_same_time() -> None:
    # A web process serves requests on threads that share one index.
    texts = real_instructions()
    index = DedupIndex()
    index.add_many((i, t, "c") for i, t in enumerate(texts[:200]))
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i, t in enumerate(texts[200:], start=200):
                index.add(i, t, "c")
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for t in texts[:200]:
                assert index.nearest(t, k=1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to provoke a clash
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(index) == len(texts)
