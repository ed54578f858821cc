"""A category guessed from how a request is worded, for texts nobody filed yet (captures).

Dolly's categories each have tell-tale wording ("summarise", "brainstorm", "classify", "write
a poem"); a question with a reference text is closed QA, one without is open QA. Company
categories with other slugs are matched by the words of their names. The guess only
pre-selects the category: the person sees it and can change it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from store.models import Category

# (slug, pattern) in order of precedence: the first one matching the instruction wins.
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (slug, re.compile(pattern, re.IGNORECASE))
    for slug, pattern in (
        ("summarization", r"\b(summar|tl;?dr|recap|in short|key points|gist)"),
        ("information_extraction", r"\b(extract|list (all|every|the) |pull out|find all)"),
        (
            "classification",
            r"\b(classif|categori[sz]|which (of these|category)|is (this|it) (a|an) )",
        ),
        ("brainstorming", r"\b(brainstorm|ideas? (for|to|on)|suggest(ions)? (for|some)|ways to)"),
        (
            "creative_writing",
            r"\b(write (a|an|me) (poem|story|song|haiku|limerick)|poem|story about)",
        ),
        ("closed_qa", r"\b(according to|based on|in (the|this) (text|passage|doc))"),
    )
)
_QUESTION = re.compile(r"\?|^\s*(who|what|when|where|why|how|which|is|are|can|does|do)\b", re.I)


def category_by_wording(
    categories: Sequence[Category], instruction: str, context: str = ""
) -> Category | None:
    """The active category the wording of `instruction` suggests (None: no cue matched)."""
    active = {c.slug: c for c in categories if c.active}
    for slug, cue in _CUES:
        if slug in active and cue.search(instruction):
            return active[slug]
    if _QUESTION.search(instruction):
        slug = "closed_qa" if context.strip() else "open_qa"
        if slug in active:
            return active[slug]
    words = set(re.findall(r"[a-z]{4,}", instruction.lower()))
    for cat in active.values():
        if words & set(re.findall(r"[a-z]{4,}", cat.name.lower())):
            return cat
    return active.get("general_qa")
