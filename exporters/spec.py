"""What an export should contain: formats, balance, split, filters; and its manifest form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.enums import Origin
from store.errors import DomainError

FORMATS = ("dolly", "alpaca", "openai", "sharegpt", "parquet")
BALANCES = ("none", "cap", "quota", "temperature")
DEFAULT_NEAR_DUP_THRESHOLD = 0.9


class ExportSpecError(DomainError):
    """An export was asked for in a way that cannot work; the message says what to change."""

    code = "export_spec_invalid"


@dataclass(frozen=True)
class ExportSpec:
    """Everything that decides an export's content; plain values, no settings objects."""

    salt: str = field(repr=False)
    formats: tuple[str, ...] = FORMATS
    balance: str = "none"
    cap: int | None = None
    temperature: float = 1.0
    test_size: float = 0.1
    seed: int = 0
    origins: tuple[str, ...] = tuple(o.value for o in Origin)
    min_reviews: int = 0
    scrub_pii: bool = False
    strip_citations: bool = True
    # ROUGE-L F1 at or above which a later example in the same category is dropped; None: off.
    near_dup_threshold: float | None = DEFAULT_NEAR_DUP_THRESHOLD
    licence: str = "proprietary"
    # A system message on every line of the chat formats (openai, sharegpt).
    system_prompt: str | None = None
    # Leave out rows in which personal data is found (instead of masking it: scrub_pii).
    drop_pii: bool = False
    # Write an export that selects no row instead of refusing.
    allow_empty: bool = False
    # Export although selected rows' licences conflict with `licence`.
    force: bool = False
    languages: tuple[str, ...] = ("en",)
    # Only categories whose alpha on verdicts is at least this (None: no agreement filter).
    min_agreement: float | None = None
    # Only examples whose reviewers' mean 1–5 rating is at least this (unrated ones left out).
    min_rating: float | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ExportSpecError("invalid export options: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with this spec, each with how to fix it."""
        out: list[str] = []
        if not self.salt:
            out.append("a pseudonym salt is required (set CROWDTUNE_PSEUDONYM_SALT)")
        if not self.formats:
            out.append(f"name at least one format of {', '.join(FORMATS)}")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            out.append(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
        if len(set(self.formats)) != len(self.formats):
            out.append("a format is named twice")
        if self.balance not in BALANCES:
            out.append(f"balance must be one of {', '.join(BALANCES)}, not {self.balance!r}")
        if self.balance == "cap" and (self.cap is None or self.cap < 1):
            out.append("--balance cap needs --cap N with N >= 1")
        if self.cap is not None and self.cap < 1:
            out.append("--cap must be at least 1")
        if not self.temperature > 0:
            out.append("--temperature must be greater than 0")
        if not 0 <= self.test_size < 1:
            out.append("--test-size must be at least 0 and below 1 (e.g. 0.1)")
        origins = {o.value for o in Origin}
        bad = [o for o in self.origins if o not in origins]
        if bad:
            out.append(f"unknown origin(s) {', '.join(bad)}; choose from {', '.join(origins)}")
        if not self.origins:
            out.append("name at least one origin")
        if self.min_reviews < 0:
            out.append("--min-reviews must be 0 or more")
        if self.scrub_pii and self.drop_pii:
            out.append("choose one of --scrub-pii (mask personal data) and --drop-pii (leave out)")
        if self.system_prompt is not None and not self.system_prompt.strip():
            out.append("--system-prompt must not be empty")
        if not self.licence.strip():
            out.append("--licence must not be empty")
        if not self.languages:
            out.append("name at least one --language (e.g. en)")
        if self.min_agreement is not None and not -1 <= self.min_agreement <= 1:
            out.append("--min-agreement is a Krippendorff's alpha: from -1 to 1 (e.g. 0.667)")
        if self.min_rating is not None and not 1 <= self.min_rating <= 5:
            out.append("--min-rating must be from 1 to 5")
        t = self.near_dup_threshold
        if t is not None and not 0 < t <= 1:
            out.append("the near-duplicate threshold must be in (0, 1]")
        return out

    def manifest(self) -> dict[str, Any]:
        """The spec as written to manifest.json and the Export row (never the salt)."""
        return {
            "formats": list(self.formats),
            "balance": self.balance,
            "cap": self.cap,
            "temperature": self.temperature,
            "test_size": self.test_size,
            "seed": self.seed,
            "origins": list(self.origins),
            "min_reviews": self.min_reviews,
            "scrub_pii": self.scrub_pii,
            "strip_citations": self.strip_citations,
            "near_dup_threshold": self.near_dup_threshold,
            "licence": self.licence,
            "system_prompt": self.system_prompt,
            "drop_pii": self.drop_pii,
            "allow_empty": self.allow_empty,
            "force": self.force,
            "languages": list(self.languages),
            "min_agreement": self.min_agreement,
            "min_rating": self.min_rating,
        }
