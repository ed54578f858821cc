"""claim_delivery: the first claim of a key wins, later ones are told it was handled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store.deliveries import claim_delivery, forget_deliveries_before
from store.models import ProcessedDelivery
from store.types import utcnow
from tests.dbs import TestDatabase


def test_a_key_is_claimed_once(db: TestDatabase) -> None:
    with db.session() as s:
        assert claim_delivery(s, "event:Ev1") is True
        assert claim_delivery(s, "event:Ev1") is False
    with db.session() as s:
        assert claim_delivery(s, "event:Ev1") is False  # also in a later transaction
        assert claim_delivery(s, "event:Ev2") is True


def test_a_lost_claim_keeps_the_session_and_its_other_work(db: TestDatabase) -> None:
    with db.session() as first:
        assert claim_delivery(first, "event:Ev9")
    with db.session() as second:
        second.add(ProcessedDelivery(key="event:other"))
        assert claim_delivery(second, "event:Ev9") is False
    with db.session() as s:
        assert s.get(ProcessedDelivery, "event:other") is not None


def test_bad_keys_are_refused(db: TestDatabase) -> None:
    with db.session() as s, pytest.raises(ValueError, match="1 to 255"):
        claim_delivery(s, "")


def test_old_keys_are_forgotten(db: TestDatabase) -> None:
    with db.session() as s:
        s.add(ProcessedDelivery(key="old", created_at=utcnow() - timedelta(days=2)))
        s.add(ProcessedDelivery(key="new"))
    with db.session() as s:
        assert forget_deliveries_before(s, utcnow() - timedelta(days=1)) == 1
    with db.session() as s:
        assert s.get(ProcessedDelivery, "old") is None and s.get(ProcessedDelivery, "new")
