"""Counts with their noun: "1 conversation", "2 turns"."""

from __future__ import annotations


def counted(n: int, word: str, plural: str | None = None) -> str:
    """`n` (thousands grouped) and `word`, or its `plural` (word + "s" unless given) unless
    n is 1."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"
