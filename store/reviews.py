"""Reviews and verification: one verdict per person per example, decided by a quorum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from store.conversations import Turn
from store.enums import ExampleKind, ExampleStatus, Verdict
from store.errors import Conflict, ValidationFailed
from store.examples import (
    PairText,
    QualityGate,
    check_may_review,
    get_example,
    revise_example,
    started_before,
)
from store.inserts import InsertNew
from store.models import CategoryExpert, Contributor, Example, Review
from store.types import utcnow
from store.validation import check_short_text


@dataclass(frozen=True)
class Quorum:
    """How many agreeing verdicts decide an example (edits count as approvals)."""

    approvals: int = 2
    rejections: int = 2

    def __post_init__(self) -> None:
        if self.approvals < 1 or self.rejections < 1:
            raise ValueError("a quorum needs at least one verdict each way")


@dataclass(frozen=True)
class ReviewOutcome:
    """What a review did: the review row and the example's status after it."""

    review: Review
    example: Example
    decided: bool


def _tally(session: Session, example_id: int) -> tuple[int, int]:
    rows = session.execute(
        select(Review.verdict, func.count())
        .where(Review.example_id == example_id)
        .group_by(Review.verdict)
    ).all()
    counts = {verdict: int(n) for verdict, n in rows}
    approvals = counts.get(Verdict.APPROVE, 0) + counts.get(Verdict.EDIT, 0)
    return approvals, counts.get(Verdict.REJECT, 0)


def _signed_off(session: Session, example: Example) -> bool:
    """True unless the category needs an expert's sign-off and no expert has approved."""
    if not example.category.expert_sign_off:
        return True
    expert_approvals = session.scalar(
        select(func.count())
        .select_from(Review)
        .join(Contributor, Contributor.id == Review.reviewer_id)
        .join(
            CategoryExpert,
            (CategoryExpert.slack_user_id == Contributor.slack_user_id)
            & (CategoryExpert.category_id == example.category_id),
        )
        .where(
            Review.example_id == example.id,
            Review.verdict.in_((Verdict.APPROVE, Verdict.EDIT)),
        )
    )
    return bool(expert_approvals)


def apply_quorum(session: Session, example: Example, quorum: Quorum) -> bool:
    """Approve or reject a pending example once enough reviews agree; True if decided.

    In a category that requires expert sign-off, the approvals must include an expert's
    (an edit counts); rejections need no expert.

    `example.review_count` must already count the review just recorded.
    """
    if example.status != ExampleStatus.PENDING:
        return False
    if example.review_count < min(quorum.approvals, quorum.rejections):
        return False  # too few verdicts for either decision: no need to count them
    approvals, rejections = _tally(session, example.id)
    if approvals >= quorum.approvals and _signed_off(session, example):
        example.status = ExampleStatus.APPROVED
    elif rejections >= quorum.rejections:
        example.status = ExampleStatus.REJECTED
    else:
        return False
    example.decided_at = utcnow()
    session.flush()
    return True


def _check_rating(rating: int | None) -> None:
    if rating is not None and not 1 <= rating <= 5:
        raise ValidationFailed({"rating": "A rating is a whole number from 1 to 5."})


def _check_reason(reason: str | None) -> None:
    errors = check_short_text("reason", reason or "")
    if errors:
        raise ValidationFailed(errors)


def _check_edit(
    example: Example, verdict: Verdict, edited: PairText | None, turns: Sequence[Turn] | None
) -> None:
    """An edit brings the edited text, and a conversation's edit its turns (a pair's text
    would leave the stored turns saying something else); checked before anything is stored."""
    if verdict != Verdict.EDIT:
        return
    if edited is None and turns is None:
        raise ValidationFailed({"response": "An edit needs the edited text."})
    if turns is None and example.kind == ExampleKind.CONVERSATION:
        raise ValidationFailed({"turns": "This is a conversation: edit its turns."})


def _apply_edit(
    session: Session,
    example: Example,
    editor: Contributor,
    edited: PairText | None,
    turns: Sequence[Turn] | None,
    gate: QualityGate | None,
) -> None:
    """Revise the example with the edit: a conversation's turns, or a pair's text."""
    if turns is not None:
        revise_example(session, example, PairText.of_turns(turns), editor, gate=gate, turns=turns)
    elif edited is not None:
        revise_example(session, example, edited, editor, gate=gate)


_NEW_REVIEW = InsertNew(Review, ["example_id", "reviewer_id"], ["id"])
_REVIEW_COLUMNS = ("example_id", "reviewer_id", "verdict", "reason", "rating", "shown_at")


def _insert_review(session: Session, review: Review) -> None:
    """Store `review` (every column set but the id) in one statement, or Conflict when this
    person already reviewed the example; afterwards `review` is a persistent object."""
    values = {name: getattr(review, name) for name in _REVIEW_COLUMNS}
    values["created_at"] = review.created_at = utcnow()
    row = _NEW_REVIEW.run(session, values)
    if row is None:
        raise Conflict("You already reviewed this example.", code="already_reviewed")
    review.id = row[0]
    # Its row is exactly these values: the session takes it as loaded, with no SELECT.
    make_transient_to_detached(review)
    session.add(review)


def record_review(
    session: Session,
    *,
    example_id: int,
    reviewer: Contributor,
    verdict: Verdict,
    quorum: Quorum,
    reason: str | None = None,
    rating: int | None = None,
    edited: PairText | None = None,
    gate: QualityGate | None = None,
    shown_at: datetime | None = None,
    turns: Sequence[Turn] | None = None,
) -> ReviewOutcome:
    """Record one person's verdict on a pending example and apply the quorum rule.

    `shown_at` is when the example was put in front of the reviewer (for time to decide); an
    edit gives the edited text (`edited`) or, for a conversation, its edited `turns`.

    Raises PermissionDenied for one's own example, Conflict for a second review by the same
    person or an example already decided, ValidationFailed for a bad rating or edit.
    """
    _check_rating(rating)
    _check_reason(reason)
    if verdict == Verdict.REJECT and not (reason and reason.strip()):
        raise ValidationFailed({"reason": "Say briefly why, so the writer can learn from it."})
    # Row lock on PostgreSQL: concurrent reviews of one example are counted one after another.
    example = get_example(session, example_id, for_update=True)
    check_may_review(example, reviewer)
    _check_edit(example, verdict, edited, turns)
    if example.status == ExampleStatus.DRAFT:
        raise Conflict("This is an AI draft: verify it first.", code="needs_verification")
    review = Review(
        example_id=example.id,
        reviewer_id=reviewer.id,
        verdict=verdict,
        reason=reason.strip() if reason else None,
        rating=rating,
        shown_at=started_before(shown_at, utcnow()),
    )
    _insert_review(session, review)
    if verdict == Verdict.EDIT:
        _apply_edit(session, example, reviewer, edited, turns, gate)
    example.review_count += 1
    decided = apply_quorum(session, example, quorum)
    if not decided and verdict != Verdict.EDIT:  # an edit (text or turns) changed the text
        _store_review_count(session, example)
    return ReviewOutcome(review=review, example=example, decided=decided)


# Built once: the one change a verdict that decides nothing makes to its example.
_EXAMPLES = cast(Table, Example.__table__)
_COUNT_REVIEW = (
    update(_EXAMPLES)
    .where(_EXAMPLES.c.id == bindparam("example"))
    # updated_at named with its own value, so the column's onupdate does not fire.
    .values(review_count=bindparam("reviews"), updated_at=_EXAMPLES.c.updated_at)
)


def _store_review_count(session: Session, example: Example) -> None:
    """Write the example's new review count and nothing else, leaving updated_at as it is.

    updated_at tells the near-duplicate index which rows to read again (`DedupIndex.sync`,
    before every submission's check); a review count is nothing it holds. Bumped by every
    click, it made each submission re-read every row reviewed in the last minute: 17 ms per
    check at 1,800 reviews a minute, 65 ms at 7,200, growing with the review rate.

    One prepared UPDATE instead of a unit-of-work flush (it runs in the ack of every click);
    the object is told the value is stored, so no flush writes it again.
    """
    # Told first: the statement's autoflush would otherwise write the count by the ORM.
    set_committed_value(example, "review_count", example.review_count)
    session.execute(_COUNT_REVIEW, {"example": example.id, "reviews": example.review_count})


def verify_draft(
    session: Session,
    *,
    example_id: int,
    verifier: Contributor,
    verdict: Verdict,
    quorum: Quorum,
    reason: str | None = None,
    edited: PairText | None = None,
    gate: QualityGate | None = None,
    shown_at: datetime | None = None,
    turns: Sequence[Turn] | None = None,
) -> ReviewOutcome:
    """A person checks an LLM draft: approve/edit sends it to review, reject discards it.

    The verifier's verdict is recorded as their review, so it counts toward the quorum and
    they are not asked to review the same example again.
    """
    _check_reason(reason)
    if verdict == Verdict.REJECT and not (reason and reason.strip()):
        raise ValidationFailed({"reason": "Say briefly what is wrong with the draft."})
    example = get_example(session, example_id, for_update=True)
    if example.status != ExampleStatus.DRAFT:
        raise Conflict("This draft was already verified.", code="already_verified")
    check_may_review(example, verifier)
    _check_edit(example, verdict, edited, turns)
    review = Review(
        example_id=example.id,
        reviewer_id=verifier.id,
        verdict=verdict,
        reason=reason.strip() if reason else None,
        shown_at=started_before(shown_at, utcnow()),
    )
    _insert_review(session, review)
    example.review_count += 1
    if verdict == Verdict.REJECT:
        example.status = ExampleStatus.REJECTED
        example.decided_at = utcnow()
        session.flush()
        return ReviewOutcome(review=review, example=example, decided=True)
    if verdict == Verdict.EDIT:
        _apply_edit(session, example, verifier, edited, turns, gate)
    example.status = ExampleStatus.PENDING
    example.verified_by_id = verifier.id
    example.verified_at = utcnow()
    decided = apply_quorum(session, example, quorum)
    return ReviewOutcome(review=review, example=example, decided=decided)
