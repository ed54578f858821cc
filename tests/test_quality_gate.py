"""CorpusQualityGate through submit_example/revise_example on both real databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.categories import get_category
from store.db import make_engine, make_session_factory, session_scope
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import PairText, revise_example, submit_example
from store.models import Example
from store.quality import (
    CITATION_BRACKETS,
    NEAR_DUPLICATE_CONFIRMED,
    PII_CONFIRMED,
    CorpusQualityGate,
    DedupIndex,
)
from tests.dbs import TestDatabase
from tests.factories import person

HOUSEPLANTS = (
    "What are some good ways to keep my houseplants alive while I am on vacation for two weeks?"
)
HOUSEPLANTS_REWORDED = (
    "What are some good ways to keep houseplants alive while I'm away on vacation for two weeks?"
)
ANSWER = "Group them together, water deeply before you leave, and use self-watering spikes."


def new_gate(db: TestDatabase) -> CorpusQualityGate:
    with db.session() as s:
        return CorpusQualityGate(DedupIndex.from_session(s))


def submit(
    db: TestDatabase,
    gate: CorpusQualityGate,
    instruction: str,
    *,
    category: str = "open_qa",
    context: str = "",
    response: str = ANSWER,
    confirmed: bool = False,
) -> int:
    with db.session() as s:
        ex = submit_example(
            s,
            category=get_category(s, category),
            text=PairText(instruction, context, response),
            author=person(s, "U1"),
            gate=gate,
            confirmed=confirmed,
        )
        return ex.id


def test_exact_and_near_duplicates_are_refused_with_category_and_snippet(db: TestDatabase) -> None:
    gate = new_gate(db)
    first = submit(db, gate, HOUSEPLANTS)
    with pytest.raises(ValidationFailed) as exc:
        submit(db, gate, HOUSEPLANTS.upper().rstrip("?") + "!!", confirmed=True)
    message = exc.value.errors["instruction"]
    assert "Open QA" in message and f"#{first}" in message
    assert "100% similar" in message
    assert "houseplants alive" in message


def test_similar_text_needs_confirmation_then_is_flagged(db: TestDatabase) -> None:
    gate = new_gate(db)
    submit(db, gate, HOUSEPLANTS)
    with pytest.raises(NeedsConfirmation) as exc:
        submit(db, gate, HOUSEPLANTS_REWORDED)
    assert "similar to an existing Open QA example" in exc.value.warnings["instruction"]
    assert "89% similar" in exc.value.warnings["instruction"]
    second = submit(db, gate, HOUSEPLANTS_REWORDED, confirmed=True)
    with db.session() as s:
        ex = s.get(Example, second)
        assert ex is not None and ex.flags == [NEAR_DUPLICATE_CONFIRMED]


def test_distinct_text_passes_without_flags(db: TestDatabase) -> None:
    gate = new_gate(db)
    submit(db, gate, HOUSEPLANTS)
    other = submit(db, gate, "Why do cats purr, and do big cats like lions purr too?")
    with db.session() as s:
        ex = s.get(Example, other)
        assert ex is not None and ex.flags == []


def test_personal_data_needs_confirmation_and_is_flagged(db: TestDatabase) -> None:
    gate = new_gate(db)
    with pytest.raises(NeedsConfirmation) as exc:
        submit(
            db,
            gate,
            "Draft a polite reply to a customer asking for a refund on a broken kettle.",
            response="Dear Sam, call me on +1 (415) 555-0132 or write to sam.lee@example.com.",
        )
    assert set(exc.value.warnings) == {"response"}
    assert "a phone number" in exc.value.warnings["response"]
    assert "an email address" in exc.value.warnings["response"]
    with db.session() as s:
        assert s.scalars(select(Example)).first() is None  # nothing stored before confirmation
    stored = submit(
        db,
        gate,
        "Draft a polite reply to a customer asking for a refund on a broken kettle.",
        response="Dear Sam, call me on +1 (415) 555-0132 or write to sam.lee@example.com.",
        confirmed=True,
    )
    with db.session() as s:
        ex = s.get(Example, stored)
        assert ex is not None and ex.flags == [PII_CONFIRMED]


def test_secret_in_the_instruction_is_named(db: TestDatabase) -> None:
    gate = new_gate(db)
    with pytest.raises(NeedsConfirmation) as exc:
        submit(db, gate, "Why does Slack reject my token xoxb-1234567890-0987654321-AbCdEfGhIj?")
    assert "a password, key or token" in exc.value.warnings["instruction"]


def test_instruction_that_is_only_a_link_is_an_error(db: TestDatabase) -> None:
    gate = new_gate(db)
    with pytest.raises(ValidationFailed) as exc:
        submit(db, gate, "https://en.wikipedia.org/wiki/Alligator", confirmed=True)
    assert "only a link" in exc.value.errors["instruction"]


def test_citations_in_the_response_warn_and_in_the_context_only_flag(db: TestDatabase) -> None:
    gate = new_gate(db)
    passage = "The Eiffel Tower was completed in 1889.[1] It is 330 metres tall.[2]"
    ex_id = submit(
        db,
        gate,
        "Based on the passage, when was the Eiffel Tower completed?",
        category="closed_qa",
        context=passage,
        response="It was completed in 1889.",
    )
    with db.session() as s:
        ex = s.get(Example, ex_id)
        assert ex is not None and ex.flags == [CITATION_BRACKETS]
    with pytest.raises(NeedsConfirmation) as exc:
        submit(
            db,
            gate,
            "How tall is the Eiffel Tower, according to the passage?",
            category="closed_qa",
            context=passage,
            response="It is 330 metres tall.[2]",
        )
    assert "citation brackets" in exc.value.warnings["response"]


def test_editing_an_example_does_not_collide_with_itself(db: TestDatabase) -> None:
    gate = new_gate(db)
    ex_id = submit(db, gate, HOUSEPLANTS)
    submit(db, gate, "Why do cats purr, and do big cats like lions purr too?")
    with db.session() as s:
        ex = s.get(Example, ex_id)
        assert ex is not None
        revise_example(s, ex, PairText(HOUSEPLANTS + " ", "", ANSWER + " Really."), None, gate=gate)
    with db.session() as s:
        ex = s.get(Example, ex_id)
        assert ex is not None
        with pytest.raises(ValidationFailed) as exc:
            revise_example(
                s,
                ex,
                PairText("Why do cats purr and do big cats like lions purr too", "", ANSWER),
                None,
                gate=gate,
            )
    assert "nearly the same" in exc.value.errors["instruction"]


def test_two_processes_see_each_others_submissions(db: TestDatabase) -> None:
    # A second engine and index: what the web process and the worker each hold.
    engine = make_engine(db.url)
    try:
        other_sessions = make_session_factory(engine)
        gate_a = new_gate(db)
        with session_scope(other_sessions) as s:
            gate_b = CorpusQualityGate(DedupIndex.from_session(s))
        submit(db, gate_a, HOUSEPLANTS)
        with session_scope(other_sessions) as s, pytest.raises(ValidationFailed) as exc:
            submit_example(
                s,
                category=get_category(s, "open_qa"),
                text=PairText(HOUSEPLANTS.lower(), "", ANSWER),
                author=person(s, "U2"),
                gate=gate_b,
                confirmed=True,
            )
        assert "nearly the same" in exc.value.errors["instruction"]
    finally:
        engine.dispose()


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="warn <= block"):
        CorpusQualityGate(DedupIndex(), warn_threshold=0.95, block_threshold=0.9)
    gate = CorpusQualityGate(DedupIndex(), warn_threshold=0.5, block_threshold=0.6)
    assert (gate.warn_threshold, gate.block_threshold) == (0.5, 0.6)
