"""The corpus quality gate every submit/edit path shares: near-duplicates, PII, hygiene.

Errors refuse the text (a near-duplicate above the block threshold, an instruction that is only
a link). Warnings (a near-duplicate above the warn threshold, personal data, citation brackets
in what the person wrote) need the person's confirmation; the flags in the report record what
they confirmed, so reviewers and exporters can see it.

A conversation is checked over every turn: its user side (all user turns) against the corpus
for near-duplicates, each turn for personal data and citation brackets, each finding keyed
by the turn it is in (turn_N) or, for the whole conversation, `turns`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from store.conversations import Turn, turn_field
from store.enums import ExampleStatus, TurnRole
from store.examples import PairText, QualityReport
from store.models import Category, Example
from store.quality.dedup import DedupIndex, NearMatch, prompt_text
from store.quality.hygiene import has_citations, is_only_url
from store.quality.pii import KINDS, find_pii

PII_CONFIRMED = "pii_confirmed"
NEAR_DUPLICATE_CONFIRMED = "near_duplicate_confirmed"
CITATION_BRACKETS = "citation_brackets"
SNIPPET_CHARS = 120
FIELDS = ("instruction", "context", "response")
# How each PII kind is named to the person.
KIND_LABELS = {
    "email": "an email address",
    "phone": "a phone number",
    "credit_card": "a credit card number",
    "ip_address": "an IP address",
    "national_id": "a national ID number",
    "slack_mention": "a Slack @-mention of a person",
    "secret": "a password, key or token",
}


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first line of an indexed text, cut at a word boundary to about `limit` characters."""
    first = " ".join(text.split("\n\n", 1)[0].split())
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + "…"


def describe_pii(kinds: list[str]) -> str:
    """'an email address and a phone number' for the kinds found."""
    labels = [KIND_LABELS.get(k, k) for k in kinds]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


class CorpusQualityGate:
    """`store.examples.QualityGate` over a shared DedupIndex, with configurable thresholds."""

    def __init__(
        self, index: DedupIndex, *, warn_threshold: float = 0.7, block_threshold: float = 0.9
    ) -> None:
        if not 0 < warn_threshold <= block_threshold <= 1:
            raise ValueError(
                "thresholds must satisfy 0 < warn <= block <= 1, got "
                f"warn={warn_threshold} block={block_threshold}"
            )
        self.index = index
        self.warn_threshold = warn_threshold
        self.block_threshold = block_threshold

    def sync(self, session: Session) -> int:
        """Catch the index up with the database; returns how many examples it took in."""
        return self.index.sync(session)

    def nearest(
        self, session: Session, text: PairText, *, exclude_id: int | None = None
    ) -> NearMatch | None:
        """The most similar stored example at or above the warn threshold, after a sync."""
        self.index.sync(session)
        hits = self.index.nearest(
            prompt_text(text.instruction, text.context),
            k=1,
            threshold=self.warn_threshold,
            exclude_id=exclude_id,
        )
        return hits[0] if hits else None

    def check(
        self,
        session: Session,
        category: Category,
        text: PairText,
        *,
        exclude_id: int | None = None,
        turns: Sequence[Turn] | None = None,
    ) -> QualityReport:
        """Inspect a candidate text against the rules and the stored corpus; a conversation's
        `turns` each, with findings keyed by turn (see the module docstring)."""
        report = QualityReport()
        fields = _fields(text, turns)
        # Where the prompt-wide findings go: the instruction, or a conversation as a whole.
        prompt = "instruction" if turns is None else "turns"
        # The task itself: the instruction, or a conversation's first user turn.
        ask = next(((k, v) for k, v, role in fields if role == TurnRole.USER), None)
        if ask is not None and is_only_url(ask[1]):
            report.errors[ask[0]] = (
                "The instruction is only a link. Say what should be done with it, e.g. "
                "“Summarize the article below” with the text pasted as the reference."
            )
        match = self.nearest(session, text, exclude_id=exclude_id)
        if match is not None and not report.errors:
            self._near_duplicate(session, match, report, prompt)
        self._pii(fields, report)
        self._citations(fields, report)
        return report

    def _near_duplicate(
        self, session: Session, match: NearMatch, report: QualityReport, key: str
    ) -> None:
        name = session.scalar(select(Category.name).where(Category.slug == match.category_slug))
        where = f"{name or match.category_slug} example #{match.example_id}"
        status = session.scalar(select(Example.status).where(Example.id == match.example_id))
        # A capture still awaiting its authors' consent is shown to nobody, not even as a snippet.
        quoted = (
            "(its text is not shown until the people it quotes allow)"
            if status == ExampleStatus.AWAITING_CONSENT
            else f"“{snippet(match.text)}”"
        )
        if match.score >= self.block_threshold:
            report.errors[key] = (
                f"This is nearly the same as an existing {where} ({match.score:.0%} similar): "
                f"{quoted}. Write a different task, or change this one substantially."
            )
        else:
            report.warnings[key] = (
                f"This is similar to an existing {where} ({match.score:.0%} similar): {quoted}. "
                "Submit anyway only if yours asks for something different."
            )
            report.flags.append(NEAR_DUPLICATE_CONFIRMED)

    def _pii(self, fields: list[tuple[str, str, TurnRole]], report: QualityReport) -> None:
        for field, value, _ in fields:
            present = {f.kind for f in find_pii(value)}
            if not present:
                continue
            kinds = [k for k in KINDS if k in present]
            message = (
                f"This looks like it contains {describe_pii(kinds)}. Remove it, or confirm it is "
                "not personal or secret (e.g. a public help-desk number)."
            )
            report.warnings[field] = (
                f"{report.warnings[field]} {message}" if field in report.warnings else message
            )
            if PII_CONFIRMED not in report.flags:
                report.flags.append(PII_CONFIRMED)

    def _citations(self, fields: list[tuple[str, str, TurnRole]], report: QualityReport) -> None:
        cited = [f for f, v, _ in fields if has_citations(v)]
        if not cited:
            return
        report.flags.append(CITATION_BRACKETS)
        # A pasted reference text may keep its brackets (exports strip them); what the person
        # wrote themselves should not carry them.
        for field in cited:
            if field == "context":
                continue
            message = "Remove the citation brackets such as [1] or [citation needed]."
            report.warnings[field] = (
                f"{report.warnings[field]} {message}" if field in report.warnings else message
            )

    def added(self, example: Example) -> None:
        """Index a stored (or edited) example at once, so the next check sees it (a later one
        in the same transaction too); a rollback of its transaction undoes it at the next sync.
        """
        # Tied to the example's open transaction: other threads' syncs then know the index is
        # ahead of what is committed, and do not compare every id to find out why.
        session = object_session(example)
        if example.status == ExampleStatus.REJECTED:
            self.index.remove(example.id, session=session, updated_at=example.updated_at)
            return
        self.index.add(
            example.id,
            prompt_text(example.instruction, example.context),
            example.category.slug,
            session=session,
            updated_at=example.updated_at,
        )


def _fields(text: PairText, turns: Sequence[Turn] | None) -> list[tuple[str, str, TurnRole]]:
    # (field key, text, side) of what a person wrote: a pair's three fields, or each turn.
    if turns is None:
        sides = (TurnRole.USER, TurnRole.USER, TurnRole.ASSISTANT)
        values = (text.instruction, text.context, text.response)
        return list(zip(FIELDS, values, sides, strict=True))
    return [(turn_field(i), t.text, t.role) for i, t in enumerate(turns)]
