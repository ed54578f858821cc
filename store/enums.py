"""Enumerations of the domain model, stored as plain strings in the database."""

from __future__ import annotations

from enum import StrEnum


class ExampleStatus(StrEnum):
    """Where an example is in its life: LLM draft, awaiting review, decided."""

    DRAFT = "draft"
    PENDING = "pending"
    # Captured from a Slack thread: held back (no review, no LLM, no export) until every
    # quoted author allowed it.
    AWAITING_CONSENT = "awaiting_consent"
    APPROVED = "approved"
    REJECTED = "rejected"


class Origin(StrEnum):
    """Where an example's text came from."""

    HUMAN = "human"
    LLM = "llm"
    IMPORTED = "imported"
    TRANSFORMED = "transformed"
    # Saved from a Slack message or thread with the message shortcut.
    CAPTURED = "captured"


class Role(StrEnum):
    """A contributor's role; admins may change targets and run exports."""

    CONTRIBUTOR = "contributor"
    ADMIN = "admin"


class Verdict(StrEnum):
    """One reviewer's verdict on one example."""

    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"


class AssignmentKind(StrEnum):
    """What the bot asked a person to do."""

    WRITE = "write"
    REVIEW = "review"
    VERIFY = "verify"


class AssignmentStatus(StrEnum):
    """What came of an assignment."""

    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    FAILED = "failed"


class RunStatus(StrEnum):
    """State of an export or a scheduled job run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExampleKind(StrEnum):
    """A single instruction/response pair, or a multi-turn conversation (turns in order)."""

    PAIR = "pair"
    CONVERSATION = "conversation"


class TurnRole(StrEnum):
    """Which side of a conversation a turn is on (OpenAI's chat roles)."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class ConsentStatus(StrEnum):
    """A quoted author's answer to "may this be used as training data?"."""

    ASKED = "asked"
    ALLOWED = "allowed"
    DECLINED = "declined"
    # No answer within CROWDTUNE_CONSENT_DAYS: treated as a decline.
    EXPIRED = "expired"
