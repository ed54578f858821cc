"""Hygiene: Wikipedia citation brackets, link-only instructions, copied context."""

from __future__ import annotations

import pytest

from store.quality.hygiene import (
    has_citations,
    is_only_url,
    response_copies_context,
    strip_citations,
)

# Sentences in the shape Dolly's Wikipedia-sourced contexts and responses carry.
CITED = [
    (
        "Paris is the capital and most populous city of France.[1] It has 2.1 million"
        " people.[2][3]",
        "Paris is the capital and most populous city of France. It has 2.1 million people.",
    ),
    (
        "The tower was completed in 1889 [12] and was initially criticised.[citation needed]",
        "The tower was completed in 1889 and was initially criticised.",
    ),
    (
        "Its name comes from the Old Norse word for bay,[a] though this is disputed.[who?]",
        "Its name comes from the Old Norse word for bay, though this is disputed.",
    ),
    (
        "The treaty was signed in 1648[4][5][clarification needed] by most parties.",
        "The treaty was signed in 1648 by most parties.",
    ),
    ("Sales rose sharply.[note 3] Profits did not.[14–16]", "Sales rose sharply. Profits did not."),
]


@pytest.mark.parametrize(("raw", "clean"), CITED, ids=lambda v: v[:25])
def test_citations_are_stripped_cleanly(raw: str, clean: str) -> None:
    assert has_citations(raw)
    assert strip_citations(raw) == clean
    assert not has_citations(clean)


@pytest.mark.parametrize(
    "text",
    [
        "What does arr[1] = 5 do in Python?",
        "Explain the notation f[a](x) in this paper.",
        "Tick the box [ ] when done, or write [TODO] if not.",
        "A list [apple, pear] is not a citation.",
        "Plain text without brackets.",
    ],
)
def test_text_without_citations_is_left_alone(text: str) -> None:
    assert not has_citations(text)
    assert strip_citations(text) == text


@pytest.mark.parametrize(
    ("text", "only_url"),
    [
        ("https://en.wikipedia.org/wiki/Alligator", True),
        ("  http://example.com/a?b=c  ", True),
        ("www.example.com/page", True),
        ("<https://example.com/x|the article>", True),
        ("<https://example.com/x>", True),
        ("Summarize https://example.com/x in two lines.", False),
        ("What is https?", False),
        ("", False),
    ],
)
def test_is_only_url(text: str, only_url: bool) -> None:
    assert is_only_url(text) is only_url


def test_response_copied_from_context_is_the_validation_rule() -> None:
    context = "The Amazon is the largest rainforest on Earth, covering much of Brazil and Peru."
    assert response_copies_context(context, context.upper())
    assert not response_copies_context(context, "Brazil and Peru.")
