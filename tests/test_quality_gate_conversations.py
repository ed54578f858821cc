"""The quality gate sees every turn of a conversation: near-duplicates through any user turn
(both ways: a new conversation against stored pairs, a new pair against stored
conversations), personal data and citation brackets in any turn, each finding keyed by the
turn it is in (turn_N) or by the conversation as a whole (`turns`), on both databases."""

from __future__ import annotations

import pytest

from store.categories import get_category
from store.conversations import Turn
from store.enums import TurnRole
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import PairText, revise_example, submit_example
from store.models import Example
from store.quality import CITATION_BRACKETS, PII_CONFIRMED, CorpusQualityGate, DedupIndex
from tests.dbs import TestDatabase
from tests.factories import person

U, A, S = TurnRole.USER, TurnRole.ASSISTANT, TurnRole.SYSTEM
HOUSEPLANTS = (
    "What are some good ways to keep my houseplants alive while I am on vacation for two weeks?"
)
ANSWER = "Group them together, water deeply before you leave, and use self-watering spikes."
OPENING = [Turn(U, "Hello there"), Turn(A, "Hi! What can I help you with today?")]


def _gate(db: TestDatabase) -> CorpusQualityGate:
    with db.session() as s:
        return CorpusQualityGate(DedupIndex.from_session(s))


def _submit(
    db: TestDatabase,
    gate: CorpusQualityGate,
    *,
    turns: list[Turn] | None = None,
    instruction: str = "",
    confirmed: bool = False,
) -> int:
    with db.session() as s:
        return submit_example(
            s,
            category=get_category(s, "open_qa"),
            text=PairText(instruction, "", ANSWER),
            author=person(s, "U1"),
            gate=gate,
            confirmed=confirmed,
            turns=turns,
        ).id


def test_a_near_duplicate_in_a_later_user_turn_is_found_against_stored_pairs(
    db: TestDatabase,
) -> None:
    gate = _gate(db)
    pair = _submit(db, gate, instruction=HOUSEPLANTS)
    copied = [*OPENING, Turn(U, HOUSEPLANTS), Turn(A, ANSWER)]
    with pytest.raises(ValidationFailed) as refused:
        _submit(db, gate, turns=copied, confirmed=True)
    # Keyed to the conversation as a whole (its user side is what matched), never to a pair
    # field the conversation form does not have.
    assert set(refused.value.errors) == {"turns"}
    assert f"#{pair}" in refused.value.errors["turns"]


def test_a_pair_is_checked_against_every_user_turn_of_stored_conversations(
    db: TestDatabase,
) -> None:
    gate = _gate(db)
    stored = _submit(db, gate, turns=[*OPENING, Turn(U, HOUSEPLANTS), Turn(A, ANSWER)])
    with pytest.raises(ValidationFailed) as refused:
        _submit(db, gate, instruction=HOUSEPLANTS, confirmed=True)
    assert f"#{stored}" in refused.value.errors["instruction"]
    # A fresh index built from the database (another process) sees it the same way.
    with pytest.raises(ValidationFailed):
        _submit(db, _gate(db), instruction=HOUSEPLANTS, confirmed=True)


def test_personal_data_in_any_turn_is_a_warning_on_that_turn(db: TestDatabase) -> None:
    gate = _gate(db)
    turns = [
        Turn(S, "You help colleagues with travel bookings."),
        Turn(U, "Which agency do we use for train tickets?"),
        Turn(A, "We book through the travel desk."),
        Turn(U, "How do I reach them?"),
        Turn(A, "Write to travel.desk@example.com or call +44 20 7946 0958."),
    ]
    with pytest.raises(NeedsConfirmation) as asked:
        _submit(db, gate, turns=turns)
    assert list(asked.value.warnings) == ["turn_4"]
    assert "an email address and a phone number" in asked.value.warnings["turn_4"]
    with_system = [Turn(S, "Ask jane.doe@example.com if in doubt."), *turns[1:3]]
    with pytest.raises(NeedsConfirmation) as system:
        _submit(db, gate, turns=with_system)
    assert list(system.value.warnings) == ["turn_0"]
    example_id = _submit(db, gate, turns=turns, confirmed=True)
    with db.session() as s:
        stored = s.get(Example, example_id)
        assert stored is not None and stored.flags == [PII_CONFIRMED]


def test_a_link_alone_and_citation_brackets_are_found_in_their_turn(db: TestDatabase) -> None:
    gate = _gate(db)
    link = [Turn(U, "https://example.com/handbook"), Turn(A, "That is the staff handbook.")]
    with pytest.raises(ValidationFailed) as refused:
        _submit(db, gate, turns=link)
    assert set(refused.value.errors) == {"turn_0"}
    cited = [*OPENING, Turn(U, "When was the company founded?"), Turn(A, "In 1998.[3]")]
    with pytest.raises(NeedsConfirmation) as asked:
        _submit(db, gate, turns=cited)
    assert list(asked.value.warnings) == ["turn_3"]
    example_id = _submit(db, gate, turns=cited, confirmed=True)
    with db.session() as s:
        stored = s.get(Example, example_id)
        assert stored is not None and CITATION_BRACKETS in stored.flags


def test_an_edit_of_a_conversation_is_checked_turn_by_turn_and_not_against_itself(
    db: TestDatabase,
) -> None:
    gate = _gate(db)
    turns = [*OPENING, Turn(U, HOUSEPLANTS), Turn(A, ANSWER)]
    example_id = _submit(db, gate, turns=turns)
    with db.session() as s:
        example = s.get_one(Example, example_id)
        # The same user turns again: not a duplicate of itself.
        revise_example(
            s, example, PairText("", "", ""), None, gate=gate, turns=[*turns[:3], Turn(A, "Ask.")]
        )
    with db.session() as s:
        example = s.get_one(Example, example_id)
        leaky = [*turns[:3], Turn(A, "Ask the neighbour, card 4111 1111 1111 1111 on file.")]
        # What an edit's check finds in the new turns, keyed to the turn that has it.
        report = gate.check(
            s, example.category, PairText.of_turns(leaky), exclude_id=example_id, turns=leaky
        )
    assert list(report.warnings) == ["turn_3"] and not report.errors
