"""The whole report in one object, and its JSON form (what `crowdtune report --json` prints)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from store.quality.dedup import DedupIndex
from store.report.agreement import (
    CategoryAgreement,
    ReviewerRow,
    agreement_by_category,
    review_facts,
    reviewer_rows,
)
from store.report.sourcing import DEFAULT_SAMPLE, OriginRow, TokenPrices, origin_rows
from store.types import utcnow


@dataclass
class Report:
    """Reviewer agreement, reviewers, and the sourcing methods compared, as of `generated_at`."""

    generated_at: datetime
    since: datetime | None
    agreement: list[CategoryAgreement]  # overall first
    reviewers: list[ReviewerRow]
    origins: list[OriginRow]
    prices: TokenPrices

    @property
    def overall(self) -> CategoryAgreement:
        """The agreement over every category."""
        return self.agreement[0]

    @property
    def flagged(self) -> list[ReviewerRow]:
        """Reviewers with at least one flag."""
        return [r for r in self.reviewers if r.flags]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; floats rounded to 4 places."""
        return {
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "since": self.since.isoformat(timespec="seconds") if self.since else None,
            "agreement": [_plain(dataclasses.asdict(a)) for a in self.agreement],
            "reviewers": [_plain(dataclasses.asdict(r)) for r in self.reviewers],
            "origins": [
                {**_plain(dataclasses.asdict(o)), "accepted": o.accepted} for o in self.origins
            ],
            "prices_per_million_tokens": _plain(dataclasses.asdict(self.prices)),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def build_report(
    session: Session,
    *,
    since: datetime | None = None,
    prices: TokenPrices | None = None,
    index: DedupIndex | None = None,
    sample: int = DEFAULT_SAMPLE,
    now: datetime | None = None,
) -> Report:
    """Compute every figure of the report; `index` None builds the near-duplicate index."""
    index = index if index is not None else DedupIndex.from_session(session)
    prices = prices or TokenPrices()
    facts = review_facts(session, since=since)
    return Report(
        generated_at=now or utcnow(),
        since=since,
        agreement=agreement_by_category(session, facts=facts),
        reviewers=reviewer_rows(session, facts=facts),
        origins=origin_rows(session, since=since, prices=prices, index=index, sample=sample),
        prices=prices,
    )
