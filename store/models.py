"""SQLAlchemy models of the domain: categories, contributors, examples, reviews, and the rest."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.enums import (
    AssignmentKind,
    AssignmentStatus,
    ConsentStatus,
    ExampleKind,
    ExampleStatus,
    Origin,
    Role,
    RunStatus,
    TurnRole,
    Verdict,
)
from store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(cls: type[Any], length: int = 16) -> Enum:
    # Plain VARCHAR columns holding the enum's value: portable and easy to migrate.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base with constraint naming conventions Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Category(Base):
    """A kind of task (Dolly's categories by default) with its guideline and target count."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    guideline: Mapped[str] = mapped_column(Text, default="")
    needs_context: Mapped[bool] = mapped_column(Boolean, default=False)
    target: Mapped[int] = mapped_column(Integer, default=0)
    min_instruction_chars: Mapped[int] = mapped_column(Integer, default=10)
    min_response_chars: Mapped[int] = mapped_column(Integer, default=2)
    # Longest instruction, context or response a person may submit: Slack's text input holds
    # 3,000 characters, and a longer text could not be edited there again.
    max_field_chars: Mapped[int] = mapped_column(Integer, default=3000, server_default="3000")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The company's field this category belongs to (e.g. "Customer support"), shown to writers.
    domain: Mapped[str | None] = mapped_column(String(128), default=None)
    # The version number of `guideline`; every earlier text is kept in category_guidelines.
    guideline_version: Mapped[int] = mapped_column(Integer, default=1)
    # A Slack user group (S…) whose members are experts, resolved into category_experts.
    expert_usergroup: Mapped[str | None] = mapped_column(String(32), default=None)
    # When set, an example is approved only if at least one expert is among the approvals.
    expert_sign_off: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        CheckConstraint("target >= 0", name="target_not_negative"),
        UniqueConstraint("name"),
    )


class CategoryGuideline(Base):
    """One version of a category's guideline; editing the guideline adds a version."""

    __tablename__ = "category_guidelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # Who wrote this version: a Slack user id, "cli", or "seed" for the shipped defaults.
    changed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("category_id", "version"),)


class CategoryExpert(Base):
    """A Slack user who is an expert of a category: named directly or via its user group."""

    __tablename__ = "category_experts"

    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )
    slack_user_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    # True when the person came from the category's user group (replaced on each resolve).
    via_usergroup: Mapped[bool] = mapped_column(Boolean, default=False)


class ContributorInterest(Base):
    """A category a person said (in App Home) they like to help with."""

    __tablename__ = "contributor_interests"

    contributor_id: Mapped[int] = mapped_column(
        ForeignKey("contributors.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )


class Contributor(Base):
    """A Slack user who writes, reviews or verifies examples."""

    __tablename__ = "contributors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    tz: Mapped[str | None] = mapped_column(String(64), default=None)
    # When `tz` was last read from Slack; nudges refresh it only when it is old.
    tz_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.CONTRIBUTOR)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set when Slack says the person cannot be reached (user_not_found, account_inactive...).
    unreachable_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("team_id", "slack_user_id"),)


class Example(Base):
    """One instruction/response pair (with optional context) and where it came from."""

    __tablename__ = "examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    instruction: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    response: Mapped[str] = mapped_column(Text)
    status: Mapped[ExampleStatus] = mapped_column(
        _enum(ExampleStatus), default=ExampleStatus.PENDING
    )
    origin: Mapped[Origin] = mapped_column(_enum(Origin), default=Origin.HUMAN)
    # A conversation keeps its turns in example_turns; `instruction` then holds its user turns
    # and `response` its assistant turns, each joined by a blank line, so every check and
    # query written for pairs (validation limits, near-duplicates, PII, hashes) sees all turns.
    kind: Mapped[ExampleKind] = mapped_column(
        _enum(ExampleKind), default=ExampleKind.PAIR, server_default=ExampleKind.PAIR.value
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("contributors.id", ondelete="SET NULL"), index=True, default=None
    )
    # sha256 of the normalised (instruction, context, response): exact-duplicate detection.
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # Provenance of imports and transforms: e.g. ("databricks-dolly-15k.jsonl", "line 17").
    source: Mapped[str | None] = mapped_column(String(255), default=None)
    source_ref: Mapped[str | None] = mapped_column(String(255), default=None)
    # What an import or transform says of the rows: the dataset's name and its licence
    # (e.g. "databricks-dolly-15k", "CC BY-SA 3.0"); exports list them and check conflicts.
    source_name: Mapped[str | None] = mapped_column(String(255), default=None)
    licence: Mapped[str | None] = mapped_column(String(128), default=None)
    # Provenance of LLM drafts: the original draft text is kept to measure human edits.
    llm_model: Mapped[str | None] = mapped_column(String(128), default=None)
    prompt_version: Mapped[str | None] = mapped_column(String(32), default=None)
    draft_instruction: Mapped[str | None] = mapped_column(Text, default=None)
    draft_context: Mapped[str | None] = mapped_column(Text, default=None)
    draft_response: Mapped[str | None] = mapped_column(Text, default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    verified_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("contributors.id", ondelete="SET NULL"), default=None
    )
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Quality flags raised at submit time (e.g. "pii_confirmed", "citation_brackets").
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # The category's guideline version when the example was stored (category_guidelines).
    guideline_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # Denormalised so "least-reviewed first" needs no aggregate over all reviews.
    review_count: Mapped[int] = mapped_column(Integer, default=0)
    # Indexed (ix_examples_created_author_status): the windowed leaderboard's partial day
    # reads by created_at; the index catch-up by updated_at; both read only the recent rows.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the writer's modal opened (created_at is its submission): person-minutes per example.
    write_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)
    author: Mapped[Contributor | None] = relationship(foreign_keys=[author_id])
    turns: Mapped[list[ExampleTurn]] = relationship(
        order_by="ExampleTurn.position", cascade="all, delete-orphan", passive_deletes=True
    )
    # Where a captured example came from (None for the rest); loaded only when read.
    capture: Mapped[Capture | None] = relationship(viewonly=True, uselist=False, lazy="select")

    __table_args__ = (
        UniqueConstraint("source", "source_ref"),
        Index("ix_examples_status_category", "status", "category_id"),
        # Matches next_for_review's ORDER BY, so the first eligible row ends the scan.
        Index("ix_examples_review_queue", "status", "review_count", "created_at", "id"),
        # Conversations counted per status and category read only their own entries.
        Index("ix_examples_kind_status_category", "kind", "status", "category_id"),
        # Covers the windowed leaderboard's read of since's own day: no lookup per row.
        Index("ix_examples_created_author_status", "created_at", "author_id", "status"),
    )


class ExampleTurn(Base):
    """One turn of a conversation example, in order from position 0."""

    __tablename__ = "example_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    example_id: Mapped[int] = mapped_column(ForeignKey("examples.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[TurnRole] = mapped_column(_enum(TurnRole))
    text: Mapped[str] = mapped_column(Text)
    # The Slack user who wrote this turn, for turns captured from a thread (consent asks them).
    author_slack_user_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # The Slack message (ts) the turn came from, for captured turns.
    source_ts: Mapped[str | None] = mapped_column(String(32), default=None)

    __table_args__ = (UniqueConstraint("example_id", "position"),)


class Capture(Base):
    """Where a captured example came from in Slack, and who captured it."""

    __tablename__ = "captures"

    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    # The message the shortcut was used on, and its thread's parent when it is in one.
    message_ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32), default=None)
    permalink: Mapped[str | None] = mapped_column(String(1024), default=None)
    captured_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("contributors.id", ondelete="SET NULL"), default=None
    )
    # Mentions were replaced by [PERSON] rather than by display names.
    anonymised: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_captures_channel_message", "channel_id", "message_ts"),)


class Consent(Base):
    """One quoted author's consent to a captured example: what they were shown and their answer."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), index=True
    )
    slack_user_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[ConsentStatus] = mapped_column(_enum(ConsentStatus), default=ConsentStatus.ASKED)
    # Exactly the text of theirs the example quotes, as shown in the DM.
    quoted_text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The DM that asked, so it can be updated when answered.
    dm_channel: Mapped[str | None] = mapped_column(String(32), default=None)
    dm_ts: Mapped[str | None] = mapped_column(String(32), default=None)

    __table_args__ = (
        UniqueConstraint("example_id", "slack_user_id"),
        # The timeout sweep reads the unanswered requests by age.
        Index("ix_consents_status_asked", "status", "asked_at"),
    )


class ExampleRevision(Base):
    """A previous text of an example, kept when a reviewer edits it."""

    __tablename__ = "example_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    instruction: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    response: Mapped[str] = mapped_column(Text)
    # A conversation's previous turns, [{"role": …, "text": …}, …]; None for pairs.
    turns: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)
    editor_id: Mapped[int | None] = mapped_column(
        ForeignKey("contributors.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("example_id", "revision"),)


class Review(Base):
    """One person's verdict on one example; at most one per person per example."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("contributors.id"), index=True)
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    # When the example was put in front of the reviewer (created_at is the verdict).
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("example_id", "reviewer_id"),
        # Covers the windowed leaderboard's read of since's own day: no lookup per row.
        Index("ix_reviews_created_reviewer", "created_at", "reviewer_id"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
    )


class Assignment(Base):
    """What the bot asked whom and when, and what came of it."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contributor_id: Mapped[int] = mapped_column(ForeignKey("contributors.id", ondelete="CASCADE"))
    kind: Mapped[AssignmentKind] = mapped_column(_enum(AssignmentKind))
    status: Mapped[AssignmentStatus] = mapped_column(
        _enum(AssignmentStatus), default=AssignmentStatus.OPEN
    )
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), default=None)
    example_id: Mapped[int | None] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Where the prompt was posted, so the message can be updated when answered.
    channel: Mapped[str | None] = mapped_column(String(32), default=None)
    message_ts: Mapped[str | None] = mapped_column(String(32), default=None)
    error: Mapped[str | None] = mapped_column(String(255), default=None)

    contributor: Mapped[Contributor] = relationship()

    __table_args__ = (
        Index("ix_assignments_contributor_created", "contributor_id", "created_at"),
        Index("ix_assignments_status_expires", "status", "expires_at"),
        Index("ix_assignments_example_status", "example_id", "status"),
    )


class Export(Base):
    """One run of the exporter: spec, counts per category, files and checksums."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.RUNNING)
    out_dir: Mapped[str] = mapped_column(String(1024))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moved while the export runs; a `running` row whose heartbeat stopped was interrupted.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class JobRun(Base):
    """One claimed fire of a scheduled job; the unique key makes each fire run once."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus), default=RunStatus.RUNNING)
    claimed_by: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (UniqueConstraint("job_name", "scheduled_at"),)


class ProcessedDelivery(Base):
    """Keys of Slack deliveries already handled, so a retried event or click counts once."""

    __tablename__ = "processed_deliveries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LlmUsage(Base):
    """Tokens spent on one LLM request, for the daily budget and cost reports."""

    __tablename__ = "llm_usage"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    model: Mapped[str] = mapped_column(String(128))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), default=None)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppSetting(Base):
    """A value the installation generated and keeps (e.g. the pseudonym salt), by key."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Counters kept by database triggers (migration 0009) in the same transaction as the change,
# so every writer (the ORM, bulk imports, cascades, raw SQL) keeps them right. Store code only
# reads them (store.counters); nothing writes them but the triggers and a recount.


class CategoryCount(Base):
    """How many examples of one category have one status and origin."""

    __tablename__ = "category_counts"

    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class ContributorCount(Base):
    """One person's examples written (all, approved, pending) and reviews given, all time."""

    __tablename__ = "contributor_counts"

    contributor_id: Mapped[int] = mapped_column(
        ForeignKey("contributors.id", ondelete="CASCADE"), primary_key=True
    )
    written: Mapped[int] = mapped_column(Integer, default=0)
    approved: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    reviews: Mapped[int] = mapped_column(Integer, default=0)
    # The leaderboard's score (3 x approved + written + reviews), indexed for its top k.
    score: Mapped[int] = mapped_column(Integer, default=0, index=True)


class ContributorDay(Base):
    """One person's examples written that UTC day (and of those, approved) and reviews given."""

    __tablename__ = "contributor_days"

    contributor_id: Mapped[int] = mapped_column(
        ForeignKey("contributors.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    written: Mapped[int] = mapped_column(Integer, default=0)
    approved: Mapped[int] = mapped_column(Integer, default=0)
    reviews: Mapped[int] = mapped_column(Integer, default=0)

    # Every column the windowed leaderboard reads, led by the day: one index range a window.
    __table_args__ = (
        Index(
            "ix_contributor_days_window", "day", "contributor_id", "written", "approved", "reviews"
        ),
    )
