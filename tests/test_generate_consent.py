"""LLM drafts never see text awaiting consent, nor conversations: the few-shot examples sent to
the model (over HTTP, to the LLM double) are approved pairs only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from store.enums import ExampleStatus, Origin, TurnRole
from tests.dbs import TestDatabase
from tests.export_data import insert_conversation
from tests.factories import example, person
from tests.gen_helpers import run_generate
from tests.llm_double import LlmDouble, running_double

U, A = TurnRole.USER, TurnRole.ASSISTANT
HELD_BACK = "Awaiting consent: how do I file the quarterly travel report?"
HELD_BACK_TURN = "Awaiting consent too: what does the night shift rota look like?"
CONVERSATION_TURN = "A conversation turn: which printer on floor two takes A3 paper?"


@pytest.fixture
def llm() -> Iterator[LlmDouble]:
    with running_double() as double:
        yield double


def test_few_shot_examples_are_approved_pairs_never_held_back_text(
    db: TestDatabase, llm: LlmDouble
) -> None:
    with db.session() as s:
        author = person(s, "UA")
        shown = [
            example(
                s,
                author,
                status=ExampleStatus.APPROVED,
                instruction=f"Approved question {i}: what should a new colleague read first?",
            ).instruction
            for i in range(2)
        ]
        example(
            s,
            author,
            status=ExampleStatus.AWAITING_CONSENT,
            origin=Origin.HUMAN,
            instruction=HELD_BACK,
        )
        insert_conversation(
            s,
            "open_qa",
            "UB",
            [(U, HELD_BACK_TURN), (A, "Three teams, rotating weekly.")],
            origin=Origin.CAPTURED,
            status=ExampleStatus.AWAITING_CONSENT,
        )
        insert_conversation(
            s, "open_qa", "UC", [(U, CONVERSATION_TURN), (A, "The one by the kitchen.")]
        )
    run_generate(db, llm, categories=["open_qa"], count=3, per_request=3, few_shot=3)
    assert llm.requests, "the run sent nothing to the model"
    sent = json.dumps(llm.requests)
    assert all(question in sent for question in shown)
    for held in (HELD_BACK, HELD_BACK_TURN, CONVERSATION_TURN):
        assert held not in sent
