"""Limits and permissions enforced in store, whatever the client sent: lengths, unstorable
characters, and who may see an example's text to act on it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from store.categories import get_category
from store.enums import ExampleStatus, Origin, Verdict
from store.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from store.examples import PairText, example_to_act_on, revise_example, submit_example
from store.models import Example
from store.reviews import Quorum, record_review, verify_draft
from tests.dbs import TestDatabase
from tests.factories import example, person

Q2 = Quorum(approvals=2, rejections=2)
OK_INSTRUCTION = "What should a new employee read in their first week?"
OK_RESPONSE = "The handbook, the security policy and their team's onboarding page."


def _count(db: TestDatabase) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Example)) or 0)


@pytest.mark.parametrize("length", [3001, 10_000])
@pytest.mark.parametrize("field", ["instruction", "context", "response"])
def test_text_over_the_category_maximum_is_a_field_error(
    db: TestDatabase, field: str, length: int
) -> None:
    texts = {"instruction": OK_INSTRUCTION, "context": "", "response": OK_RESPONSE}
    texts[field] = "word " * (length // 5) + "x" * (length % 5)
    assert len(texts[field]) == length
    with db.session() as s:
        author = person(s, "UA")
        with pytest.raises(ValidationFailed) as err:
            submit_example(
                s, category=get_category(s, "open_qa"), text=PairText(**texts), author=author
            )
    assert set(err.value.errors) == {field}
    assert "3,000" in err.value.errors[field]
    assert _count(db) == 0


def test_exactly_the_maximum_is_accepted_and_the_maximum_is_per_category(db: TestDatabase) -> None:
    with db.session() as s:
        author = person(s, "UA")
        cat = get_category(s, "open_qa")
        assert cat.max_field_chars == 3000
        submit_example(
            s, category=cat, text=PairText(OK_INSTRUCTION, "", "y" * 3000), author=author
        )
        cat.max_field_chars = 500
        with pytest.raises(ValidationFailed) as err:
            submit_example(
                s, category=cat, text=PairText(OK_INSTRUCTION + "?", "", "z" * 501), author=author
            )
        assert "500" in err.value.errors["response"]


def test_edit_over_the_maximum_is_refused(db: TestDatabase) -> None:
    with db.session() as s:
        alice, bob = person(s, "UA"), person(s, "UB")
        ex = example(s, alice)
        with pytest.raises(ValidationFailed) as err:
            revise_example(s, ex, PairText(OK_INSTRUCTION, "", "r" * 3001), bob)
        assert set(err.value.errors) == {"response"}


def test_imports_keep_their_own_larger_ceiling(db: TestDatabase) -> None:
    with db.session() as s:
        submit_example(
            s,
            category=get_category(s, "closed_qa"),
            text=PairText(OK_INSTRUCTION, "c" * 12_000, OK_RESPONSE),
            author=None,
            origin=Origin.IMPORTED,
            strict=False,
        )
    assert _count(db) == 1


BAD_CHARACTERS = {"nul": "bad\x00byte", "lone_surrogate": "bad \ud800 half", "low": "x\udfffy"}


@pytest.mark.parametrize("kind", sorted(BAD_CHARACTERS))
@pytest.mark.parametrize("field", ["instruction", "context", "response"])
def test_unstorable_characters_are_a_field_error(db: TestDatabase, field: str, kind: str) -> None:
    texts = {"instruction": OK_INSTRUCTION, "context": "", "response": OK_RESPONSE}
    texts[field] = texts[field] + " " + BAD_CHARACTERS[kind]
    with db.session() as s:
        author = person(s, "UA")
        with pytest.raises(ValidationFailed) as err:
            submit_example(
                s, category=get_category(s, "open_qa"), text=PairText(**texts), author=author
            )
        assert set(err.value.errors) == {field}
        # Also when curated text comes in without the people's rules.
        with pytest.raises(ValidationFailed):
            submit_example(
                s,
                category=get_category(s, "open_qa"),
                text=PairText(**texts),
                author=None,
                origin=Origin.IMPORTED,
                strict=False,
            )
    assert _count(db) == 0


@pytest.mark.parametrize("reason", ["nul \x00 here", "half \ud83d", "r" * 3001])
def test_reject_reason_is_checked(db: TestDatabase, reason: str) -> None:
    with db.session() as s:
        alice, bob = person(s, "UA"), person(s, "UB")
        ex = example(s, alice)
        with pytest.raises(ValidationFailed) as err:
            record_review(
                s, example_id=ex.id, reviewer=bob, verdict=Verdict.REJECT, quorum=Q2, reason=reason
            )
        assert set(err.value.errors) == {"reason"}
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        with pytest.raises(ValidationFailed):
            verify_draft(
                s,
                example_id=draft.id,
                verifier=bob,
                verdict=Verdict.REJECT,
                quorum=Q2,
                reason=reason,
            )


def test_may_act_on_a_pending_example_or_a_draft(db: TestDatabase) -> None:
    with db.session() as s:
        alice, bob = person(s, "UA"), person(s, "UB")
        pending = example(s, alice)
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        assert example_to_act_on(s, pending.id, bob, verify=False) is pending
        assert example_to_act_on(s, draft.id, bob, verify=True) is draft


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("own", PermissionDenied),
        ("rejected", Conflict),
        ("approved", Conflict),
        ("already_reviewed", Conflict),
        ("draft_as_review", Conflict),
        ("pending_as_verify", Conflict),
        ("missing", NotFound),
    ],
)
def test_may_not_act_on_it(db: TestDatabase, case: str, error: type[Exception]) -> None:
    with db.session() as s:
        alice, bob = person(s, "UA"), person(s, "UB")
        verify = case == "pending_as_verify"
        ex = example(
            s,
            alice,
            status=ExampleStatus.DRAFT if case == "draft_as_review" else ExampleStatus.PENDING,
        )
        who = alice if case == "own" else bob
        if case in ("rejected", "approved"):
            ex.status = ExampleStatus(case)
        if case == "already_reviewed":
            record_review(s, example_id=ex.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Q2)
            assert ex.status == ExampleStatus.PENDING
        example_id = ex.id + 1000 if case == "missing" else ex.id
        with pytest.raises(error):
            example_to_act_on(s, example_id, who, verify=verify)
