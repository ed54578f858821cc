"""The review rules live in store: quorum, no self-review, one review per person, drafts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError

from store.enums import ExampleStatus, Origin, Verdict
from store.errors import Conflict, PermissionDenied, ValidationFailed
from store.examples import PairText, get_example, next_for_review
from store.models import Example, ExampleRevision, Review
from store.reviews import Quorum, record_review, verify_draft
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.factories import example, person

Q2 = Quorum(approvals=2, rejections=2)


def test_two_approvals_approve(db: TestDatabase) -> None:
    with db.session() as s:
        alice, bob, carol = person(s, "UA"), person(s, "UB"), person(s, "UC")
        ex = example(s, alice)
        first = record_review(s, example_id=ex.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Q2)
        assert not first.decided and ex.status == ExampleStatus.PENDING
        second = record_review(
            s, example_id=ex.id, reviewer=carol, verdict=Verdict.APPROVE, quorum=Q2, rating=5
        )
        assert second.decided and ex.status == ExampleStatus.APPROVED
        assert ex.decided_at is not None and ex.review_count == 2


def test_a_verdict_that_changes_no_text_or_status_leaves_updated_at(db: TestDatabase) -> None:
    # updated_at is what the near-duplicate index re-reads by: a click that only counts must
    # not make every submission's check read the row again; a decision or an edit must.
    with db.session() as s:
        alice, bob, carol = person(s, "UA"), person(s, "UB"), person(s, "UC")
        counted, edited = example(s, alice), example(s, alice)
        long_ago = utcnow() - timedelta(days=30)
        s.execute(update(Example).values(updated_at=long_ago))
    with db.session() as s:
        record_review(s, example_id=counted.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Q2)
        text = PairText("Name a primary colour.", "", "Red is one.")
        record_review(
            s, example_id=edited.id, reviewer=bob, verdict=Verdict.EDIT, quorum=Q2, edited=text
        )
    with db.session() as s:
        assert s.get_one(Example, counted.id).review_count == 1
        assert s.get_one(Example, counted.id).updated_at == long_ago
        assert s.get_one(Example, edited.id).updated_at > long_ago  # the text changed
    with db.session() as s:
        outcome = record_review(
            s, example_id=counted.id, reviewer=carol, verdict=Verdict.APPROVE, quorum=Q2
        )
        assert outcome.decided
    with db.session() as s:
        assert s.get_one(Example, counted.id).updated_at > long_ago  # the status changed


@pytest.mark.parametrize(
    ("quorum", "verdicts", "status"),
    [
        (Quorum(approvals=1, rejections=3), [Verdict.APPROVE], ExampleStatus.APPROVED),
        (Quorum(approvals=3, rejections=1), [Verdict.REJECT], ExampleStatus.REJECTED),
        (
            Quorum(approvals=3, rejections=2),
            [Verdict.APPROVE, Verdict.REJECT],
            ExampleStatus.PENDING,
        ),
        (
            Quorum(approvals=3, rejections=2),
            [Verdict.REJECT, Verdict.APPROVE, Verdict.REJECT],
            ExampleStatus.REJECTED,
        ),
        (
            Quorum(approvals=2, rejections=3),
            [Verdict.REJECT, Verdict.REJECT, Verdict.APPROVE, Verdict.APPROVE],
            ExampleStatus.APPROVED,
        ),
    ],
)
def test_uneven_quorums_decide_on_the_deciding_review(
    db: TestDatabase, quorum: Quorum, verdicts: list[Verdict], status: ExampleStatus
) -> None:
    # The tally is skipped while too few reviews exist for either side: never past that point.
    with db.session() as s:
        ex = example(s, person(s, "UA"))
        for i, verdict in enumerate(verdicts):
            outcome = record_review(
                s,
                example_id=ex.id,
                reviewer=person(s, f"UR{i}"),
                verdict=verdict,
                quorum=quorum,
                reason="not right" if verdict == Verdict.REJECT else None,
            )
            assert outcome.decided == (i == len(verdicts) - 1 and status != ExampleStatus.PENDING)
        assert ex.status == status


def test_rejections_reject_and_need_a_reason(db: TestDatabase) -> None:
    with db.session() as s:
        alice, bob, carol = person(s, "UA"), person(s, "UB"), person(s, "UC")
        ex = example(s, alice)
        with pytest.raises(ValidationFailed) as err:
            record_review(s, example_id=ex.id, reviewer=bob, verdict=Verdict.REJECT, quorum=Q2)
        assert "reason" in err.value.errors
        record_review(
            s, example_id=ex.id, reviewer=bob, verdict=Verdict.REJECT, quorum=Q2, reason="wrong"
        )
        out = record_review(
            s, example_id=ex.id, reviewer=carol, verdict=Verdict.REJECT, quorum=Q2, reason="vague"
        )
        assert out.decided and ex.status == ExampleStatus.REJECTED


def test_split_votes_wait_for_quorum(db: TestDatabase) -> None:
    with db.session() as s:
        a, b, c, d = (person(s, u) for u in ("UA", "UB", "UC", "UD"))
        ex = example(s, a)
        record_review(s, example_id=ex.id, reviewer=b, verdict=Verdict.APPROVE, quorum=Q2)
        record_review(
            s, example_id=ex.id, reviewer=c, verdict=Verdict.REJECT, quorum=Q2, reason="x"
        )
        assert ex.status == ExampleStatus.PENDING
        record_review(s, example_id=ex.id, reviewer=d, verdict=Verdict.APPROVE, quorum=Q2)
        assert ex.status == ExampleStatus.APPROVED


def test_nobody_reviews_their_own(db: TestDatabase) -> None:
    with db.session() as s:
        alice = person(s, "UA")
        ex = example(s, alice)
        with pytest.raises(PermissionDenied):
            record_review(s, example_id=ex.id, reviewer=alice, verdict=Verdict.APPROVE, quorum=Q2)
        assert next_for_review(s, alice) is None


def test_one_review_per_person_even_across_transactions(db: TestDatabase) -> None:
    with db.session() as s:
        alice, bob = person(s, "UA"), person(s, "UB")
        ex_id = example(s, alice).id
    with db.session() as s:
        bob = person(s, "UB")
        record_review(s, example_id=ex_id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Q2)
    with db.session() as s, pytest.raises(Conflict) as err:
        bob = person(s, "UB")
        record_review(s, example_id=ex_id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Q2)
    assert err.value.code == "already_reviewed"
    with db.session() as s:
        assert s.query(Review).count() == 1


def test_decided_examples_take_no_more_reviews(db: TestDatabase) -> None:
    one = Quorum(approvals=1, rejections=1)
    with db.session() as s:
        a, b, c = person(s, "UA"), person(s, "UB"), person(s, "UC")
        ex = example(s, a)
        record_review(s, example_id=ex.id, reviewer=b, verdict=Verdict.APPROVE, quorum=one)
        with pytest.raises(Conflict):
            record_review(s, example_id=ex.id, reviewer=c, verdict=Verdict.APPROVE, quorum=one)


def test_edit_keeps_the_previous_text_and_counts_as_approval(db: TestDatabase) -> None:
    with db.session() as s:
        a, b = person(s, "UA"), person(s, "UB")
        ex = example(s, a, instruction="What is the tallest mountain on Earth?")
        edited = PairText(ex.instruction, "", "Mount Everest, 8,849 m above sea level.")
        record_review(
            s, example_id=ex.id, reviewer=b, verdict=Verdict.EDIT, quorum=Q2, edited=edited
        )
        assert ex.response == edited.response and ex.revision == 2
        old = s.query(ExampleRevision).one()
        assert old.revision == 1 and old.response != edited.response


def test_rating_must_be_one_to_five(db: TestDatabase) -> None:
    with db.session() as s:
        a, b = person(s, "UA"), person(s, "UB")
        ex = example(s, a)
        with pytest.raises(ValidationFailed):
            record_review(
                s, example_id=ex.id, reviewer=b, verdict=Verdict.APPROVE, quorum=Q2, rating=6
            )


def test_next_for_review_least_reviewed_first_and_skips_reviewed(db: TestDatabase) -> None:
    with db.session() as s:
        a, b, c = person(s, "UA"), person(s, "UB"), person(s, "UC")
        first, second = example(s, a), example(s, a)
        record_review(s, example_id=first.id, reviewer=c, verdict=Verdict.APPROVE, quorum=Q2)
        assert next_for_review(s, b) == second  # fewer reviews goes first
        assert next_for_review(s, c) == second  # c already reviewed `first`
        record_review(s, example_id=second.id, reviewer=c, verdict=Verdict.APPROVE, quorum=Q2)
        assert next_for_review(s, c) is None


def test_drafts_need_a_person_before_review(db: TestDatabase) -> None:
    with db.session() as s:
        b, c = person(s, "UB"), person(s, "UC")
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        with pytest.raises(Conflict):
            record_review(s, example_id=draft.id, reviewer=b, verdict=Verdict.APPROVE, quorum=Q2)
        assert next_for_review(s, b) is None
        assert next_for_review(s, b, status=ExampleStatus.DRAFT) == draft
        out = verify_draft(s, example_id=draft.id, verifier=b, verdict=Verdict.APPROVE, quorum=Q2)
        assert out.example.status == ExampleStatus.PENDING and draft.verified_by_id == b.id
        with pytest.raises(Conflict):
            verify_draft(s, example_id=draft.id, verifier=c, verdict=Verdict.APPROVE, quorum=Q2)
        record_review(s, example_id=draft.id, reviewer=c, verdict=Verdict.APPROVE, quorum=Q2)
        assert draft.status == ExampleStatus.APPROVED


def test_rejected_draft_is_discarded(db: TestDatabase) -> None:
    with db.session() as s:
        b = person(s, "UB")
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        verify_draft(
            s, example_id=draft.id, verifier=b, verdict=Verdict.REJECT, quorum=Q2, reason="wrong"
        )
        assert draft.status == ExampleStatus.REJECTED


def test_reviewing_locks_the_example_not_its_category(db: TestDatabase) -> None:
    # Reviews of different examples of one category must not queue behind each other: the
    # row lock of a review covers the example only (the category is joined into the query).
    if db.kind != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite takes the file's write lock)")
    with db.session() as s:
        alice, bob = person(s, "UA"), person(s, "UB")
        first, second = example(s, alice), example(s, alice)
        assert first.category_id == second.category_id
        category_id, first_id, second_id = first.category_id, first.id, second.id
    with db.session() as s, db.session() as other:
        record_review(s, example_id=first_id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Q2)
        # While that transaction is open, the category row and another example are free...
        other.execute(
            text("SELECT id FROM categories WHERE id = :id FOR UPDATE NOWAIT"), {"id": category_id}
        )
        get_example(other, second_id, for_update=True)
        # ...and the reviewed example is not.
        with pytest.raises(OperationalError), other.begin_nested():
            other.execute(
                text("SELECT id FROM examples WHERE id = :id FOR UPDATE NOWAIT"), {"id": first_id}
            )
