"""store.consents: who is asked, who may answer, and what an answer or the expiry does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from store.categories import get_category
from store.consents import Quote, answer, ask, consents_of, expire, quoted_texts
from store.enums import ConsentStatus, ExampleStatus, Origin
from store.errors import Conflict, PermissionDenied
from store.examples import PairText, submit_example
from store.models import Contributor, Example
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.factories import person


def awaiting(s: Session, capturer: Contributor) -> Example:
    """A captured example awaiting consent."""
    return submit_example(
        s,
        category=get_category(s, "open_qa"),
        text=PairText("How do we rotate keys safely?", "", "New key first, then revoke."),
        author=capturer,
        origin=Origin.CAPTURED,
        status=ExampleStatus.AWAITING_CONSENT,
    )


def test_the_capturer_is_never_asked_and_each_author_sees_only_their_fields(
    db: TestDatabase,
) -> None:
    quotes = [
        Quote("UASK", "instruction", "How do we rotate keys safely?"),
        Quote("UCAP", "response", "New key first, then revoke."),
        Quote("UASK", "turn_2", "  How do we rotate keys safely?  "),
    ]
    assert quoted_texts(quotes) == {
        "UASK": "How do we rotate keys safely?",
        "UCAP": "New key first, then revoke.",
    }
    with db.session() as s:
        capturer = person(s, "UCAP")
        ex = awaiting(s, capturer)
        asked = ask(s, ex, quotes, capturer="UCAP", now=utcnow())
        assert [c.slack_user_id for c in asked] == ["UASK"]
        assert ex.status == ExampleStatus.AWAITING_CONSENT
        own = awaiting(s, capturer)
        own.instruction = "Only my own words here, asked by me."
        assert ask(s, own, [Quote("UCAP", "response", "x")], capturer="UCAP", now=utcnow()) == []
        assert own.status == ExampleStatus.PENDING  # nobody to ask: straight to review


def test_only_the_person_asked_answers_and_only_once(db: TestDatabase) -> None:
    with db.session() as s:
        ex = awaiting(s, person(s, "UCAP"))
        (consent,) = ask(s, ex, [Quote("UASK", "instruction", "q?")], capturer="UCAP", now=utcnow())
        with pytest.raises(PermissionDenied):
            answer(s, consent.id, "UOTHER", allow=True, now=utcnow())
        done = answer(s, consent.id, "UASK", allow=True, now=utcnow())
        assert (done.status, done.example_status, done.capturer) == (
            ConsentStatus.ALLOWED,
            ExampleStatus.PENDING,
            "UCAP",
        )
        with pytest.raises(Conflict):
            answer(s, consent.id, "UASK", allow=False, now=utcnow())
        assert ex.instruction  # a second click changed nothing


def test_expiry_counts_from_when_each_was_asked(db: TestDatabase) -> None:
    t0 = utcnow()
    with db.session() as s:
        capturer = person(s, "UCAP")
        old, new = awaiting(s, capturer), awaiting(s, capturer)
        new.instruction = "A different question asked later on?"
        ask(s, old, [Quote("UASK", "instruction", "q?")], capturer="UCAP", now=t0)
        ask(
            s,
            new,
            [Quote("UASK", "instruction", "q2?")],
            capturer="UCAP",
            now=t0 + timedelta(days=3),
        )
        gone = expire(s, now=t0 + timedelta(days=8), days=7)
        assert [g.example_id for g in gone] == [old.id]
        assert old.status == ExampleStatus.REJECTED and old.instruction == ""
        assert new.status == ExampleStatus.AWAITING_CONSENT
        (request,) = consents_of(s, old.id)
        assert request.status == ConsentStatus.EXPIRED and request.quoted_text == ""
        assert request.answered_at is not None
