"""Conversations in store: turns kept in order, the rules a conversation must meet, edits kept
as revisions, and deletes cascading to the turns."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.categories import get_category
from store.conversations import Turn, merge_consecutive, turns_of
from store.enums import ExampleKind, TurnRole
from store.errors import ValidationFailed
from store.examples import PairText, revise_example, submit_example
from store.models import Example, ExampleRevision, ExampleTurn
from tests.dbs import TestDatabase
from tests.factories import person

U, A, S = TurnRole.USER, TurnRole.ASSISTANT, TurnRole.SYSTEM
TURNS = [
    Turn(U, "How do I request a new laptop?"),
    Turn(A, "Open a ticket in the IT portal under Hardware."),
    Turn(U, "And how long does it take?"),
    Turn(A, "Usually three working days."),
]


def _conversation(s: Session, turns: list[Turn], user: str = "UA") -> Example:
    return submit_example(
        s,
        category=get_category(s, "general_qa"),
        text=PairText("", "", ""),
        author=person(s, user),
        turns=turns,
    )


def test_a_conversation_keeps_its_turns_in_order_and_its_sides_as_the_pair(
    db: TestDatabase,
) -> None:
    with db.session() as s:
        ex = _conversation(s, TURNS)
        ex_id = ex.id
    with db.session() as s:
        stored = s.get(Example, ex_id)
        assert stored is not None
        assert stored.kind == ExampleKind.CONVERSATION
        assert turns_of(stored) == TURNS
        assert stored.instruction == "How do I request a new laptop?\n\nAnd how long does it take?"
        assert stored.response.endswith("Usually three working days.")


def test_the_same_turns_hash_alike_and_differ_from_the_pair_of_their_sides(
    db: TestDatabase,
) -> None:
    with db.session() as s:
        cat, who = get_category(s, "general_qa"), person(s, "UA")
        one = submit_example(s, category=cat, text=PairText("", "", ""), author=who, turns=TURNS)
        two = submit_example(
            s,
            category=cat,
            text=PairText("", "", ""),
            author=who,
            turns=[Turn(t.role, "  " + t.text.upper() + " ") for t in TURNS],
        )
        pair = submit_example(
            s, category=cat, text=PairText(one.instruction, "", one.response), author=who
        )
        assert one.content_hash == two.content_hash
        assert pair.content_hash != one.content_hash
        assert pair.kind == ExampleKind.PAIR


@pytest.mark.parametrize(
    ("turns", "field", "words"),
    [
        ([Turn(U, "Only a question here?")], "turns", "at least a user turn"),
        ([Turn(A, "I answer first."), Turn(U, "Odd order?")], "turns", "starts with"),
        (TURNS[:3], "turns", "ends with"),
        ([Turn(U, "Hello there"), Turn(U, "Anyone?"), Turn(A, "Yes.")], "turn_1", "in a row"),
        ([Turn(U, "Hello there"), Turn(A, "   ")], "turn_1", "empty"),
        ([Turn(U, "Hi"), Turn(S, "Be nice."), Turn(A, "Ok.")], "turn_1", "first turn"),
        ([Turn(U, "Hi \x00"), Turn(A, "Ok.")], "turn_0", "NUL"),
    ],
)
def test_a_bad_conversation_names_what_to_fix(
    db: TestDatabase, turns: list[Turn], field: str, words: str
) -> None:
    with db.session() as s:
        with pytest.raises(ValidationFailed) as err:
            _conversation(s, turns)
        assert words in err.value.errors[field]


def test_a_turn_over_the_category_maximum_is_refused(db: TestDatabase) -> None:
    with db.session() as s:
        with pytest.raises(ValidationFailed) as err:
            _conversation(s, [Turn(U, "Why?"), Turn(A, "x" * 3001)])
        assert "at most 3,000" in err.value.errors["turn_1"]


def test_merge_consecutive_joins_one_sides_turns() -> None:
    merged = merge_consecutive(
        [
            Turn(U, "a", "U1", "1.0"),
            Turn(U, "b", "U1", "2.0"),
            Turn(A, "c", "U2"),
            Turn(A, "d", "U3"),
        ]
    )
    assert merged == [Turn(U, "a\n\nb", "U1", "1.0"), Turn(A, "c\n\nd", None)]


def test_an_edit_replaces_the_turns_and_keeps_the_old_ones_as_a_revision(
    db: TestDatabase,
) -> None:
    with db.session() as s:
        ex = _conversation(s, TURNS)
        new = [*TURNS[:2], Turn(U, "Can I pick the model?"), Turn(A, "Yes, from the list.")]
        revise_example(s, ex, PairText("", "", ""), person(s, "UB"), turns=new)
        ex_id = ex.id
    with db.session() as s:
        stored = s.get(Example, ex_id)
        assert stored is not None and turns_of(stored) == new and stored.revision == 2
        old = s.scalars(select(ExampleRevision).where(ExampleRevision.example_id == ex_id)).one()
        assert old.turns == [t.as_dict() for t in TURNS]
        s.delete(stored)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ExampleTurn)) == 0
