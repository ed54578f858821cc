"""The prompt sent for each category, kept readable in tests/snapshots/prompt_<slug>.txt.

When a change to the prompt is intended, bump PROMPT_VERSION in generators/prompts.py and
rewrite the snapshots with

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_generate_prompts.py

then read the diff of tests/snapshots/ before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generators.drafts import generate_drafts
from generators.prompts import PROMPT_VERSION
from store.categories import DEFAULT_CATEGORIES
from store.enums import ExampleStatus, Origin
from store.quality.pii import scrub_pii
from tests.dbs import TestDatabase
from tests.factories import example, person

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
SLUGS = [c.slug for c in DEFAULT_CATEGORIES]
PASSAGE = (
    "The cafeteria on the third floor opens at 8:00 and closes at 15:00 on weekdays. Hot meals "
    "are served from 11:30. On Fridays the salad bar is replaced by a pizza station, and the "
    "coffee machines are cleaned between 14:00 and 14:30."
)


def _seed_corpus(db: TestDatabase) -> None:
    with db.session() as s:
        a = person(s, "UA")
        for cat in DEFAULT_CATEGORIES:
            for i in range(4):
                example(
                    s,
                    a,
                    category=cat.slug,
                    status=ExampleStatus.APPROVED,
                    instruction=f"{cat.name} sample {i}: what should a new colleague know first?",
                    context=PASSAGE if cat.needs_context else "",
                    response=f"Sample answer {i} for {cat.name}; ask jane@example.com for more.",
                )
            # With enough human examples, imports are not shown to the model.
            example(
                s,
                None,
                category=cat.slug,
                status=ExampleStatus.APPROVED,
                origin=Origin.IMPORTED,
                instruction=f"Imported {cat.slug} text that must not appear in the prompt?",
                context=PASSAGE if cat.needs_context else "",
                response="An imported answer that is long enough for every category.",
            )


@pytest.fixture
def prompts(db: TestDatabase) -> dict[str, str]:
    _seed_corpus(db)
    report = generate_drafts(
        db.sessions,
        None,
        model="snapshot-model",
        categories=None,
        count=5,
        per_request=5,
        daily_token_budget=0,
        seed=42,
        scrub=scrub_pii,
        dry_run=True,
    )
    return report.prompts


@pytest.mark.parametrize("slug", SLUGS)
def test_prompt_matches_snapshot(prompts: dict[str, str], slug: str) -> None:
    path = SNAPSHOTS / f"prompt_{slug}.txt"
    header = f"# prompt {PROMPT_VERSION}, category {slug}, seed 42\n"
    actual = header + prompts[slug]
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 (see docstring)"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"the prompt for {slug} changed. If intended, bump PROMPT_VERSION and rerun with "
        "UPDATE_SNAPSHOTS=1 (see this module's docstring), then review the diff."
    )


def test_prompt_shows_only_scrubbed_human_examples(prompts: dict[str, str]) -> None:
    for slug in SLUGS:
        text = prompts[slug]
        assert "jane@example.com" not in text and "[EMAIL]" in text
        assert "Imported" not in text
        assert text.count("Example ") == 3


def test_imported_examples_fill_in_when_people_wrote_too_few(db: TestDatabase) -> None:
    with db.session() as s:
        a = person(s, "UA")
        example(
            s, a, status=ExampleStatus.APPROVED, instruction="Human question: why is the sky blue?"
        )
        for i in range(3):
            example(
                s,
                None,
                status=ExampleStatus.APPROVED,
                origin=Origin.IMPORTED,
                instruction=f"Imported question {i}: how do tides work on a calm day?",
            )
        example(
            s,
            None,
            status=ExampleStatus.APPROVED,
            origin=Origin.LLM,
            instruction="An LLM question that must never be shown as an example?",
        )
    report = generate_drafts(
        db.sessions,
        None,
        model="m",
        categories=["open_qa"],
        count=1,
        daily_token_budget=0,
        seed=1,
        scrub=scrub_pii,
        dry_run=True,
    )
    text = report.prompts["open_qa"]
    assert "Human question" in text and text.count("Imported question") == 2
    assert "LLM question" not in text
