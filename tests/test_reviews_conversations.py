"""Reviews of conversations in store: an edit replaces the turns (a pair's text cannot), a
drafted conversation is verified with its turns, and nobody reviews their own."""

from __future__ import annotations

import pytest

from store.categories import get_category
from store.conversations import Turn, turns_of
from store.enums import ExampleStatus, TurnRole, Verdict
from store.errors import PermissionDenied, ValidationFailed
from store.examples import PairText, submit_example
from store.models import Example
from store.reviews import Quorum, record_review, verify_draft
from tests.dbs import TestDatabase
from tests.factories import person

U, A = TurnRole.USER, TurnRole.ASSISTANT
TURNS = [
    Turn(U, "What should I bring on my first day at the office?"),
    Turn(A, "Your ID for the badge photo, and your laptop if IT already sent one."),
    Turn(U, "Is there a dress code?"),
    Turn(A, "No formal one; people dress casually unless they meet customers."),
]
EDITED = [*TURNS[:3], Turn(A, "No formal one; smart casual when you meet customers.")]


def _conversation(db: TestDatabase, status: ExampleStatus = ExampleStatus.PENDING) -> int:
    with db.session() as s:
        ex = submit_example(
            s,
            category=get_category(s, "general_qa"),
            text=PairText("", "", ""),
            author=person(s, "UALICE"),
            status=status,
            turns=TURNS,
        )
        return ex.id


def test_an_edit_replaces_the_turns_and_a_pair_text_is_refused(db: TestDatabase) -> None:
    example_id = _conversation(db)
    # Refused before anything is stored (the review row too).
    with pytest.raises(ValidationFailed) as err, db.session() as s:
        record_review(
            s,
            example_id=example_id,
            reviewer=person(s, "UBOB"),
            verdict=Verdict.EDIT,
            quorum=Quorum(),
            edited=PairText("A new question?", "", "A new answer that is long enough."),
        )
    assert "edit its turns" in err.value.errors["turns"]
    with db.session() as s:
        assert turns_of(s.get_one(Example, example_id)) == TURNS
        outcome = record_review(
            s,
            example_id=example_id,
            reviewer=person(s, "UBOB"),
            verdict=Verdict.EDIT,
            quorum=Quorum(approvals=1),
            turns=EDITED,
        )
        assert outcome.decided and outcome.example.status == ExampleStatus.APPROVED
    with db.session() as s:
        ex = s.get_one(Example, example_id)
        assert turns_of(ex) == EDITED and ex.revision == 2
        assert ex.response.endswith("smart casual when you meet customers.")


def test_a_drafted_conversation_is_verified_with_its_turns(db: TestDatabase) -> None:
    example_id = _conversation(db, ExampleStatus.DRAFT)
    with db.session() as s:
        outcome = verify_draft(
            s,
            example_id=example_id,
            verifier=person(s, "UBOB"),
            verdict=Verdict.EDIT,
            quorum=Quorum(),
            turns=EDITED,
        )
        assert outcome.example.status == ExampleStatus.PENDING
    with db.session() as s:
        assert turns_of(s.get_one(Example, example_id)) == EDITED


def test_nobody_reviews_their_own_conversation(db: TestDatabase) -> None:
    example_id = _conversation(db)
    with pytest.raises(PermissionDenied), db.session() as s:
        record_review(
            s,
            example_id=example_id,
            reviewer=person(s, "UALICE"),
            verdict=Verdict.APPROVE,
            quorum=Quorum(),
        )
