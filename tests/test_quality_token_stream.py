"""The whole-batch tokenizer gives exactly `tokenize`'s tokens, numbered in order of first
appearance, and `encode_many` the codes the one-text-at-a-time path gives."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.quality import token_stream as ts
from store.quality.dedup import DedupIndex, tokenize

FIXTURE = Path(__file__).parent / "fixtures" / "quality_near_duplicates.jsonl"
# Casefolding that changes length (ß, ﬁ, İ), marks, digits of other scripts, astral letters,
# punctuation and white space of every kind, the underscore (not a token character).
TRICKY = "ßẞﬁİıǅ Σς _-'’.,;\t\n\u00a0\u2028 é e\u0301 ٣४ 日本語 𝔘𝔫𝔦 😀 ⅷ ² ½ x"
TEXTS = st.lists(
    st.text(alphabet=st.sampled_from(TRICKY) | st.characters(blacklist_categories=["Cs"])),
    max_size=12,
)


def _tokens(texts: list[str]) -> list[list[str]]:
    stream = ts.token_stream(texts)
    b = stream.bounds.tolist()
    return [
        [stream.distinct[i] for i in stream.ids[x:y].tolist()] for x, y in itertools.pairwise(b)
    ]


def _first_seen(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(tok for t in texts for tok in tokenize(t)))


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_tokens_equal_tokenize_on_any_text(texts: list[str]) -> None:
    assert _tokens(texts) == [tokenize(t) for t in texts]
    assert ts.token_stream(texts).distinct == _first_seen(texts)


def test_tokens_equal_tokenize_on_real_prompts_across_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pairs = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    texts = [text for pair in pairs for text in (pair["original"], pair["variant"])]
    texts += [TRICKY, "", "   ", "!!!"]
    # Chunks of a few texts: numbering must carry across them.
    monkeypatch.setattr(ts, "_CHUNK_CHARS", 300)
    assert _tokens(texts) == [tokenize(t) for t in texts]
    assert ts.token_stream(texts).distinct == _first_seen(texts)


def test_no_texts_and_no_tokens() -> None:
    assert _tokens([]) == []
    assert _tokens(["", "...", " \n"]) == [[], [], []]


@settings(max_examples=100, deadline=None)
@given(TEXTS, TEXTS)
def test_encode_many_gives_the_codes_of_the_text_at_a_time_path(
    first: list[str], then: list[str]
) -> None:
    batch, one_by_one = DedupIndex(), DedupIndex()
    for texts in (first, then):  # the second batch meets codes the first one gave
        assert batch.encode_many(texts) == [one_by_one._seq_of(tokenize(t)) for t in texts]


def test_own_codes_skip_the_surrogates_and_keep_tokens_apart() -> None:
    """Past 55,295 distinct tokens the next codes would be UTF-16 surrogates, which a str
    can't hold: they are skipped, and every token keeps a code of its own."""
    texts = [" ".join(f"t{n}x{k}" for k in range(100)) for n in range(700)]  # 70,000 tokens
    texts.append("t0x0 t699x99 t0x0")  # repeats of the first and the last token
    stream = ts.token_stream(texts)
    coded = ts.own_codes(stream)
    points = {ord(c) for text in coded for c in text}
    assert len(points) == len(stream.distinct) == 70_000
    assert not any(0xD800 <= p < 0xE000 for p in points) and 0 not in points
    assert coded[-1] == coded[0][0] + coded[-2][-1] + coded[0][0]
