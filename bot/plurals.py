"""Counts with their noun: "1 conversation", "2 turns" (every text the bot or the CLI prints)."""

from __future__ import annotations


def counted(n: int, word: str, plural: str | None = None) -> str:
    """`n` and `word`, plural unless n is 1 (`plural` for irregular nouns); thousands grouped."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"
