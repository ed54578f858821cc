"""The word tokens of many texts at once, in whole-array passes.

The same tokens as `dedup.tokenize` (runs of `str.isalnum()` characters of the casefolded
text), found without a Python string per token: a 15k-row import holds about 2.5M tokens and
only some 40k distinct ones. Characters are classified with numpy (each distinct non-ASCII
code point asked `str.isalnum()` once), and the tokens, as UTF-32 byte strings, are
dictionary-encoded by pyarrow's hash table, which compares bytes exactly and numbers values in
order of first appearance (tests/test_quality_token_stream.py compares it with `tokenize`).
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]
# Token numbers: a batch holds far fewer than 2^31 distinct tokens (half the memory of int64).
IdArray = npt.NDArray[np.int32]
# Code points a str can't hold on its own (UTF-16 surrogates).
_SURROGATES_START, _SURROGATES_SIZE = 0xD800, 0x800
# Texts are tokenised about this many characters at a time: bounds the temporaries
# (some 30 bytes a character: about 30 MB).
_CHUNK_CHARS = 1 << 20


@dataclass(frozen=True)
class TokenStream:
    """Every token of a batch of texts, as numbers."""

    distinct: list[str]  # each distinct token once, in order of first appearance
    ids: IdArray  # every token's position in `distinct`, text after text
    bounds: IntArray  # text t's tokens are ids[bounds[t] : bounds[t + 1]]


def token_stream(texts: Sequence[str]) -> TokenStream:
    """The tokens of `texts`: `[distinct[i] for i in ids[bounds[t]:bounds[t+1]]]` equals
    `tokenize(texts[t])`."""
    dictionaries: list[pa.LargeBinaryArray] = []
    ids: list[IdArray] = []
    counts: list[IntArray] = []
    start = seen = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) <= _CHUNK_CHARS):
            size += len(texts[end]) + 1
            end += 1
        chunk_distinct, chunk_ids, chunk_counts = _chunk_tokens(texts[start:end])
        # Chunk numbers, shifted past the earlier chunks' dictionaries.
        ids.append(chunk_ids + seen)
        dictionaries.append(chunk_distinct)
        seen += len(chunk_distinct)
        counts.append(chunk_counts)
        start = end
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    if not counts:
        return TokenStream([], np.empty(0, dtype=np.int32), bounds)
    np.cumsum(np.concatenate(counts), out=bounds[1:])
    # The chunks' dictionaries, one after the other, encoded again: batch numbers in order
    # of first appearance (a chunk's new tokens come after the earlier chunks' tokens).
    merged = pc.dictionary_encode(pa.concat_arrays(dictionaries))
    batch_of = _indices(merged)
    all_ids = batch_of[np.concatenate(ids)].astype(np.int32)
    return TokenStream(_strings(merged.dictionary), all_ids, bounds)


def coded_texts(points: npt.NDArray[np.uint32], bounds: IntArray) -> list[str]:
    """Per text, its tokens' codes (`points`, text after text; text t's are
    points[bounds[t]:bounds[t + 1]]) as one string of code points: the form texts are compared
    in (ROUGE-L over tokens is Indel over these strings)."""
    whole, _ = codecs.utf_32_le_decode(np.ascontiguousarray(points, dtype=np.uint32).data)
    at = bounds.tolist()
    return [whole[a:z] for a, z in itertools.pairwise(at)]


def own_codes(stream: TokenStream) -> list[str]:
    """The texts of `stream` coded on their own: token number n is code point n + 1, past the
    surrogates (which a str can't encode); no index, no other batch shares these codes."""
    points = stream.ids.astype(np.uint32) + 1
    points[points >= _SURROGATES_START] += _SURROGATES_SIZE
    return coded_texts(points, stream.bounds)


def _ascii_alnum() -> npt.NDArray[np.bool_]:
    """`str.isalnum()` of the 128 ASCII characters; index 128 stands for every other one."""
    table = np.zeros(129, dtype=bool)
    table[:128] = [chr(c).isalnum() for c in range(128)]
    return table


def _chunk_tokens(texts: Sequence[str]) -> tuple[pa.LargeBinaryArray, IdArray, IntArray]:
    """A chunk's distinct tokens as UTF-32-LE byte strings (first appearance first), each
    token's number among them, and each text's token count."""
    folded = [t.lower() if t.isascii() else t.casefold() for t in texts]
    # A space between texts: no token runs across two texts.
    points = np.frombuffer(" ".join(folded).encode("utf-32-le"), dtype=np.uint32)
    alnum = np.take(_ascii_alnum(), points, mode="clip")  # (clip: every other one is 128)
    wide = np.flatnonzero(points >= 128)
    if len(wide):
        values, where = np.unique(points[wide], return_inverse=True)
        alnum[wide] = np.array([chr(c).isalnum() for c in values.tolist()], dtype=bool)[where]
    edge = np.diff(alnum.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    lengths = np.flatnonzero(edge == -1) - starts
    text_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(f) + 1 for f in folded], out=text_starts[1:])
    counts = np.diff(np.searchsorted(starts, text_starts)).astype(np.int64)
    if not len(starts):
        return pa.array([], type=pa.large_binary()), np.empty(0, dtype=np.int32), counts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths * 4, out=offsets[1:])
    data = points[alnum]  # the tokens' characters back to back, as UTF-32-LE
    tokens = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    encoded = pc.dictionary_encode(tokens)
    return encoded.dictionary, _indices(encoded), counts


def _indices(encoded: pa.DictionaryArray) -> IdArray:
    """A dictionary encoding's indices (int32, no nulls) as a numpy view of their buffer:
    `Array.to_numpy` would import pandas first, a fifth of a second of a 15k-row scan."""
    indices = encoded.indices
    if indices.type != pa.int32() or indices.null_count:
        return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    buffer = np.frombuffer(indices.buffers()[1], dtype=np.int32)
    return buffer[indices.offset : indices.offset + len(indices)]


def _strings(values: pa.LargeBinaryArray) -> list[str]:
    """UTF-32-LE byte strings as str: one decode of the whole buffer, then slices."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    whole = bytes(memoryview(values.buffers()[2])[first:last]).decode("utf-32-le")
    at = ((offsets - first) // 4).tolist()
    return [whole[a:z] for a, z in itertools.pairwise(at)]
