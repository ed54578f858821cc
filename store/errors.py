"""Domain errors with stable codes, turned into Slack replies or CLI messages in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain said no; `code` is stable, `message` says what to fix."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """The thing asked for does not exist."""

    code = "not_found"


class PermissionDenied(DomainError):
    """The person may not do this (admin-only, or their own example)."""

    code = "permission_denied"


class Conflict(DomainError):
    """The action was already done (a second review, an example already decided)."""

    code = "conflict"


class ValidationFailed(DomainError):
    """Input broke one or more rules; `errors` maps a field name to what to fix."""

    code = "validation_failed"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class NeedsConfirmation(DomainError):
    """The input is acceptable only if the person confirms the `warnings` (field -> text)."""

    code = "needs_confirmation"

    def __init__(self, warnings: dict[str, str]) -> None:
        self.warnings = dict(warnings)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.warnings.items()))
