"""Counts with their noun: "1 conversation", "2 turns"."""

from __future__ import annotations


def counted(n: int, word: str) -> str:
    """`n` (thousands grouped) and `word`, with an "s" unless n is 1."""
    return f"{n:,} {word if n == 1 else word + 's'}"
