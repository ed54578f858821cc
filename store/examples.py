"""Examples: submitting, editing, verifying drafts, and picking what to review next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from store.conversations import (
    Turn,
    conversation_hash,
    sides,
    stored_turns,
    turns_of,
    validate_turns,
)
from store.counters import contributor_tally
from store.enums import ExampleKind, ExampleStatus, Origin
from store.errors import Conflict, NeedsConfirmation, NotFound, PermissionDenied, ValidationFailed
from store.models import Category, Contributor, Example, ExampleRevision, Review
from store.types import utcnow
from store.validation import content_hash, validate_pair


@dataclass(frozen=True)
class PairText:
    """The three texts of an example."""

    instruction: str
    context: str
    response: str

    def stripped(self) -> PairText:
        """The same texts without surrounding white space."""
        return PairText(self.instruction.strip(), self.context.strip(), self.response.strip())

    @classmethod
    def of_turns(cls, turns: Sequence[Turn]) -> PairText:
        """A conversation seen as a pair: its user turns and its assistant turns."""
        user, assistant = sides(turns)
        return cls(user, "", assistant)


def _validate(
    category: Category, text: PairText, turns: Sequence[Turn] | None, *, strict: bool = True
) -> dict[str, str]:
    if turns is not None:
        return validate_turns(category, turns, strict=strict)
    return validate_pair(category, text.instruction, text.context, text.response, strict=strict)


def _hash(text: PairText, turns: Sequence[Turn] | None) -> str:
    if turns is not None:
        return conversation_hash(turns)
    return content_hash(text.instruction, text.context, text.response)


@dataclass
class QualityReport:
    """What the quality gate found: hard errors, warnings a person may confirm, flags to keep."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


class QualityGate(Protocol):
    """Corpus-wide checks (near-duplicates, PII, hygiene) applied to every new text."""

    def check(
        self,
        session: Session,
        category: Category,
        text: PairText,
        *,
        exclude_id: int | None = None,
        turns: Sequence[Turn] | None = None,
    ) -> QualityReport:
        """Inspect a candidate text against the rules and the stored corpus; for a
        conversation `text` is its sides and `turns` its turns (findings keyed turn_N)."""
        ...

    def added(self, example: Example) -> None:
        """Tell the gate an example was stored (or its text changed), to keep its index current."""
        ...


def submit_example(
    session: Session,
    *,
    category: Category,
    text: PairText,
    author: Contributor | None,
    origin: Origin = Origin.HUMAN,
    status: ExampleStatus = ExampleStatus.PENDING,
    flags: list[str] | None = None,
    strict: bool = True,
    gate: QualityGate | None = None,
    confirmed: bool = False,
    started_at: datetime | None = None,
    turns: Sequence[Turn] | None = None,
) -> Example:
    """Validate and store a new example; `started_at` is when the person began writing it.

    With `turns` the example is a conversation (and `text` is ignored: it becomes
    `PairText.of_turns(turns)`). Raises ValidationFailed naming each bad field, or
    NeedsConfirmation when the quality gate has warnings (near-duplicate, personal data) that
    the person has not confirmed yet.
    """
    if turns is not None:
        text = PairText.of_turns(turns)
    errors = _validate(category, text, turns, strict=strict)
    if errors:
        raise ValidationFailed(errors)
    if not category.active:
        raise ValidationFailed({"category": f"{category.name} is not taking examples right now."})
    flags = list(flags or [])
    if gate is not None:
        report = gate.check(session, category, text, turns=turns)
        if report.errors:
            raise ValidationFailed(report.errors)
        if report.warnings and not confirmed:
            raise NeedsConfirmation(report.warnings)
        flags.extend(f for f in report.flags if f not in flags)
    clean = text.stripped()
    example = Example(
        category=category,
        category_id=category.id,
        instruction=clean.instruction,
        context=clean.context,
        response=clean.response,
        content_hash=_hash(clean, turns),
        kind=ExampleKind.PAIR if turns is None else ExampleKind.CONVERSATION,
        turns=[] if turns is None else stored_turns(turns),
        author=author,
        author_id=author.id if author else None,
        origin=origin,
        status=status,
        flags=flags,
        guideline_version=category.guideline_version,
        write_started_at=started_before(started_at, utcnow()),
    )
    session.add(example)
    session.flush()
    if gate is not None:
        gate.added(example)
    return example


def started_before(started_at: datetime | None, now: datetime) -> datetime | None:
    """A task's start time if it is a plausible one (not after `now`), else None.

    The time comes back from Slack in a modal's metadata or a button's value; a clock skew
    between processes must not make a negative duration.
    """
    return started_at if started_at is not None and started_at <= now else None


def get_example(session: Session, example_id: int, *, for_update: bool = False) -> Example:
    """The example with this id (row-locked on PostgreSQL when `for_update`), or NotFound."""
    # FOR UPDATE OF examples: the category is joined in (Example.category), and a bare
    # FOR UPDATE would lock its row too, queueing every review of that category behind the
    # one in flight.
    lock = {"of": Example} if for_update else None
    example = session.get(Example, example_id, with_for_update=lock)
    if example is None:
        raise NotFound(f"example {example_id} does not exist")
    return example


def revise_example(
    session: Session,
    example: Example,
    text: PairText,
    editor: Contributor | None,
    *,
    gate: QualityGate | None = None,
    turns: Sequence[Turn] | None = None,
) -> Example:
    """Replace an example's text (a conversation's: its `turns`), keeping the previous one as a
    revision."""
    if turns is not None:
        text = PairText.of_turns(turns)
    errors = _validate(example.category, text, turns)
    if errors:
        raise ValidationFailed(errors)
    if gate is not None:
        report = gate.check(session, example.category, text, exclude_id=example.id, turns=turns)
        if report.errors:
            raise ValidationFailed(report.errors)
    clean = text.stripped()
    session.add(
        ExampleRevision(
            example_id=example.id,
            revision=example.revision,
            instruction=example.instruction,
            context=example.context,
            response=example.response,
            turns=[t.as_dict() for t in turns_of(example)] if turns is not None else None,
            editor_id=editor.id if editor else None,
        )
    )
    example.instruction, example.context, example.response = (
        clean.instruction,
        clean.context,
        clean.response,
    )
    if turns is not None:
        # Old rows go before the new ones are flushed: (example_id, position) is unique.
        example.turns.clear()
        session.flush()
        example.turns.extend(stored_turns(turns))
        example.kind = ExampleKind.CONVERSATION
    example.content_hash = _hash(clean, turns)
    example.revision += 1
    session.flush()
    if gate is not None:
        gate.added(example)
    return example


def next_for_review(
    session: Session,
    reviewer: Contributor,
    *,
    status: ExampleStatus = ExampleStatus.PENDING,
    category_id: int | None = None,
    exclude_ids: frozenset[int] = frozenset(),
) -> Example | None:
    """The least-reviewed example awaiting `status` that this person neither wrote nor reviewed."""
    already = exists().where(Review.example_id == Example.id, Review.reviewer_id == reviewer.id)
    stmt = (
        select(Example)
        .where(Example.status == status, ~already)
        .where((Example.author_id.is_(None)) | (Example.author_id != reviewer.id))
        .order_by(Example.review_count, Example.created_at, Example.id)
        .limit(1)
    )
    if category_id is not None:
        stmt = stmt.where(Example.category_id == category_id)
    if exclude_ids:
        stmt = stmt.where(Example.id.not_in(exclude_ids))
    return session.scalar(stmt)


def check_may_review(example: Example, reviewer: Contributor) -> None:
    """Nobody reviews their own example, and only undecided examples are reviewed."""
    if example.author_id is not None and example.author_id == reviewer.id:
        raise PermissionDenied("You wrote this example, so someone else has to review it.")
    if example.status in (ExampleStatus.APPROVED, ExampleStatus.REJECTED):
        raise Conflict(f"This example was already {example.status.value}.", code="already_decided")


def example_to_act_on(
    session: Session, example_id: int, person: Contributor, *, verify: bool
) -> Example:
    """The example `person` was asked to review (`verify`: an AI draft to verify), checked
    before any of its text is shown: it exists, they did not write it, it is still waiting
    (pending, or draft when verifying) and they have not given their verdict on it yet."""
    example = get_example(session, example_id)
    check_may_review(example, person)
    wanted = ExampleStatus.DRAFT if verify else ExampleStatus.PENDING
    if example.status != wanted:
        if example.status == ExampleStatus.DRAFT:
            raise Conflict("This is an AI draft: verify it first.", code="needs_verification")
        raise Conflict(
            f"This example is {example.status.value.replace('_', ' ')}, not waiting for "
            + ("verification." if verify else "review."),
            code="not_waiting",
        )
    mine = exists().where(Review.example_id == example.id, Review.reviewer_id == person.id)
    if session.scalar(select(mine)):
        raise Conflict("You already reviewed this example.", code="already_reviewed")
    return example


def latest_by_author(session: Session, author: Contributor, *, limit: int = 5) -> list[Example]:
    """This person's most recent examples, newest first, with their category and turns loaded
    (App Home lists them; the author index keeps it to their own rows)."""
    stmt = (
        select(Example)
        .where(Example.author_id == author.id)
        .order_by(Example.created_at.desc(), Example.id.desc())
        .limit(limit)
        .options(selectinload(Example.turns), selectinload(Example.category))
    )
    return list(session.scalars(stmt))


def count_by_author(session: Session, author: Contributor) -> int:
    """How many examples this person has written (from the counters)."""
    return contributor_tally(session, author.id).written


def exists_hash(session: Session, digest: str) -> bool:
    """True when an example with exactly this normalised text is already stored."""
    return session.scalar(select(exists().where(Example.content_hash == digest))) or False
