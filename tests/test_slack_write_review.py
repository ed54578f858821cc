"""Write → review → approve through signed HTTP requests, with Slack's Web API as a local double."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.slack.standin.web_api import SlackDouble
from store.categories import get_category
from store.enums import ExampleStatus, Origin, Verdict
from store.models import Example, ExampleRevision, Review
from store.reviews import Quorum, record_review
from tests.factories import example, person
from tests.slack_fixtures import (
    all_text,
    blocks_of,
    button_value,
    double,
    slack,
)
from tests.slack_requests import SlackApp, fill, opened_view

__all__ = ["double", "slack"]  # fixtures

CONTEXT = (
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris and was the tallest "
    "man-made structure in the world until 1930."
)


def _open_write(slack: SlackApp, user: str, text: str = "write") -> dict[str, object]:
    before = len(slack.double.calls_to("views.open"))
    reply = slack.command(user, text)
    assert reply.status == 200 and not reply.body.strip()  # empty ack, at once
    call = slack.double.wait_for("views.open", before + 1)[-1]
    return opened_view(call.args)


def _last_reply(double: SlackDouble, prefix: str = "response_url:") -> dict[str, object]:
    calls = [c for c in double.calls if c.method.startswith(prefix)]
    assert calls, double.methods()
    return calls[-1].args


def _wait_replies(double: SlackDouble, count: int) -> dict[str, object]:
    with double._lock:
        ok = double._lock.wait_for(
            lambda: sum(c.method.startswith("response_url:") for c in double.calls) >= count,
            timeout=10,
        )
    assert ok, double.methods()
    return _last_reply(double)


def _replies(double: SlackDouble) -> int:
    return sum(c.method.startswith("response_url:") for c in double.calls)


def _review(slack: SlackApp, user: str) -> list[dict[str, object]]:
    n = _replies(slack.double)
    assert slack.command(user, "review").status == 200
    return blocks_of(_wait_replies(slack.double, n + 1))


def _click(slack: SlackApp, user: str, action: str, value: str, **kw: object) -> dict[str, object]:
    n = _replies(slack.double)
    assert slack.click(user, action, value, **kw).status == 200  # type: ignore[arg-type]
    return _wait_replies(slack.double, n + 1)


def test_write_review_approve_by_three_users(slack: SlackApp) -> None:
    view = _open_write(slack, "UALICE", "write closed_qa")
    category = view["blocks"][0]  # type: ignore[index]
    assert category["element"]["initial_option"]["value"] == "closed_qa"
    context_block = next(b for b in view["blocks"] if b.get("block_id") == "context")  # type: ignore[union-attr, attr-defined]
    assert context_block["optional"] is False  # closed QA needs a reference text
    assert "reference text" in all_text(view["blocks"])  # type: ignore[arg-type]

    example_id = _write_from(slack, view)
    thanks = slack.double.last("chat.postMessage").args["text"]
    assert "1 from you" in thanks

    # The writer is never offered their own example.
    assert "Nothing is waiting" in all_text(_review(slack, "UALICE"))

    blocks = _review(slack, "UBOB")
    assert "When was the Eiffel Tower completed?" in all_text(blocks)
    value = button_value(blocks, "review_approve")
    assert json.loads(value)["id"] == example_id
    after_bob = _click(slack, "UBOB", "review_approve", value, rating=4)
    assert after_bob["replace_original"] is True
    with slack.db.session() as s:
        assert s.get(Example, example_id).status == ExampleStatus.PENDING  # type: ignore[union-attr]

    blocks = _review(slack, "UCAROL")
    _click(slack, "UCAROL", "review_approve", button_value(blocks, "review_approve"))
    with slack.db.session() as s:
        ex = s.get(Example, example_id)
        assert ex is not None and ex.status == ExampleStatus.APPROVED and ex.review_count == 2
        ratings = sorted(r.rating or 0 for r in s.scalars(select(Review)))
        assert ratings == [0, 4]
    assert "now *approved*" in all_text(blocks_of(_last_reply(slack.double)))


def _write_from(slack: SlackApp, view: dict[str, object]) -> int:
    posts = len(slack.double.calls_to("chat.postMessage"))
    reply = slack.submit(
        "UALICE",
        fill(
            view,
            instruction="When was the Eiffel Tower completed?",
            context=CONTEXT,
            response="It was completed in 1889.",
        ),
    )
    assert reply.status == 200 and not reply.body.strip()
    slack.double.wait_for("chat.postMessage", posts + 1)
    with slack.db.session() as s:
        ex = s.scalars(select(Example)).one()
        assert ex.status == ExampleStatus.PENDING and ex.author is not None
        assert ex.author.slack_user_id == "UALICE"
        return ex.id


def test_write_without_category_preselects_the_largest_gap(slack: SlackApp) -> None:
    with slack.db.session() as s:
        get_category(s, "summarization").target = 5000
    view = _open_write(slack, "UALICE", "write")
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "summarization"  # type: ignore[index]


def test_unknown_category_gets_a_clear_reply(slack: SlackApp) -> None:
    slack.command("UALICE", "write jokes")
    reply = _wait_replies(slack.double, 1)
    assert "unknown category 'jokes'" in str(reply["text"]) and "open_qa" in str(reply["text"])
    assert not slack.double.calls_to("views.open")


def test_switching_category_updates_the_modal_and_keeps_the_text(slack: SlackApp) -> None:
    view = _open_write(slack, "UALICE", "write open_qa")
    typed = fill(view, instruction="Summarise this passage for me please", category="summarization")
    assert slack.select("UALICE", typed, "write_category", "summarization").status == 200
    update = slack.double.wait_for("views.update")[-1]
    new = opened_view(update.args)
    assert update.args["view_id"] == typed["id"]
    assert "Summarization" in all_text(new["blocks"])
    ins = next(b for b in new["blocks"] if b.get("block_id") == "instruction")
    assert ins["element"]["initial_value"] == "Summarise this passage for me please"
    ctx = next(b for b in new["blocks"] if b.get("block_id") == "context")
    assert ctx["optional"] is False


@pytest.mark.parametrize(
    ("category", "typed", "field", "words"),
    [
        (
            "open_qa",
            {"instruction": "Why?", "response": "Because it is."},
            "instruction",
            "too short",
        ),
        (
            "open_qa",
            {"instruction": "What is the capital of France?", "response": ""},
            "response",
            "Write the response",
        ),
        (
            "closed_qa",
            {"instruction": "When was the tower completed?", "context": "", "response": "In 1889."},
            "context",
            "reference text",
        ),
        (
            "closed_qa",
            {
                "instruction": "When was the tower completed?",
                "context": CONTEXT,
                "response": CONTEXT,
            },
            "response",
            "repeats the reference",
        ),
        (
            "creative_writing",
            {"instruction": "Write a poem about the sea.", "response": "Waves."},
            "response",
            "too short",
        ),
    ],
)
def test_validation_errors_come_back_on_the_right_field(
    slack: SlackApp, category: str, typed: dict[str, str], field: str, words: str
) -> None:
    view = _open_write(slack, "UALICE", f"write {category}")
    reply = slack.submit("UALICE", fill(view, **typed))
    assert reply.status == 200
    body = reply.json()
    assert body["response_action"] == "errors"
    assert words in body["errors"][field]
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 0


def test_warnings_need_confirmation_and_keep_the_text(slack: SlackApp) -> None:
    view = _open_write(slack, "UALICE", "write open_qa")
    typed = dict(
        instruction="Who should I e-mail about payroll questions?",
        response="Write to jane.doe@example.com and she will help.",
    )
    reply = slack.submit("UALICE", fill(view, **typed))
    body = reply.json()
    assert body["response_action"] == "update"
    again = body["view"]
    assert "email address" in all_text(again["blocks"])
    ins = next(b for b in again["blocks"] if b.get("block_id") == "instruction")
    assert ins["element"]["initial_value"] == typed["instruction"]  # nothing lost
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 0
    # Resubmitting without ticking the box asks again; ticking it stores the example.
    assert slack.submit("UALICE", fill(again)).json()["response_action"] == "update"
    assert not slack.submit("UALICE", fill(again, confirm=True)).body.strip()
    slack.double.wait_for("chat.postMessage")
    with slack.db.session() as s:
        ex = s.scalars(select(Example)).one()
        assert "pii_confirmed" in ex.flags


def test_near_duplicate_is_refused_on_the_instruction_field(slack: SlackApp) -> None:
    with slack.db.session() as s:
        example(s, person(s, "UCAROL"), instruction="What are good ways to learn a new language?")
    view = _open_write(slack, "UALICE", "write open_qa")
    bad = slack.submit(
        "UALICE",
        fill(
            view,
            instruction="What are good ways to learn a new language",
            response="Practise every day with a native speaker.",
        ),
    )
    errors = bad.json()["errors"]
    assert "nearly the same as an existing" in errors["instruction"]
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 1


def test_edit_is_stored_as_a_new_revision(slack: SlackApp) -> None:
    with slack.db.session() as s:
        ex = example(s, person(s, "UALICE"), response="Paris is the capital.")
        example_id = ex.id
    blocks = _review(slack, "UBOB")
    url = slack.double.response_url("msg-bob")
    assert (
        slack.click(
            "UBOB", "review_edit", button_value(blocks, "review_edit"), response_url=url
        ).status
        == 200
    )
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    assert modal["callback_id"] == "edit_submit"
    resp = next(b for b in modal["blocks"] if b.get("block_id") == "response")
    assert resp["element"]["initial_value"] == "Paris is the capital."
    assert json.loads(modal["private_metadata"])["reply_url"] == url
    n = _replies(slack.double)
    reply = slack.submit("UBOB", fill(modal, response="Paris is the capital of France."))
    assert reply.status == 200 and not reply.body.strip()
    assert "revision 2" in all_text(blocks_of(_wait_replies(slack.double, n + 1)))
    with slack.db.session() as s:
        ex = s.get(Example, example_id)
        assert (
            ex is not None and ex.revision == 2 and ex.response == "Paris is the capital of France."
        )
        old = s.scalars(select(ExampleRevision)).one()
        assert old.response == "Paris is the capital."
        assert s.scalars(select(Review)).one().verdict == Verdict.EDIT


def test_edit_errors_come_back_on_the_field(slack: SlackApp) -> None:
    with slack.db.session() as s:
        example(s, person(s, "UALICE"))
    blocks = _review(slack, "UBOB")
    slack.click("UBOB", "review_edit", button_value(blocks, "review_edit"))
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    body = slack.submit("UBOB", fill(modal, instruction="short")).json()
    assert body["response_action"] == "errors" and "too short" in body["errors"]["instruction"]


def test_reject_needs_a_reason(slack: SlackApp) -> None:
    with slack.db.session() as s:
        ex = example(s, person(s, "UALICE"))
        example_id = ex.id
    blocks = _review(slack, "UBOB")
    slack.click("UBOB", "review_reject", button_value(blocks, "review_reject"))
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    assert modal["callback_id"] == "reject_submit"
    empty = slack.submit("UBOB", fill(modal, reason="   ")).json()
    assert empty["response_action"] == "errors" and "why" in empty["errors"]["reason"].lower()
    n = _replies(slack.double)
    assert not slack.submit("UBOB", fill(modal, reason="The answer is wrong.")).body.strip()
    _wait_replies(slack.double, n + 1)
    with slack.db.session() as s:
        review = s.scalars(select(Review).where(Review.example_id == example_id)).one()
        assert review.verdict == Verdict.REJECT and review.reason == "The answer is wrong."


def test_skip_shows_another_example_least_reviewed_first(slack: SlackApp) -> None:
    with slack.db.session() as s:
        alice, carol = person(s, "UALICE"), person(s, "UCAROL")
        older = example(s, alice)
        newer = example(s, alice)
        # Carol reviewed the older one, so the newer (never reviewed) comes first.
        record_review(
            s, example_id=older.id, reviewer=carol, verdict=Verdict.APPROVE, quorum=Quorum(3, 3)
        )
        ids = (newer.id, older.id)
    blocks = _review(slack, "UBOB")
    assert json.loads(button_value(blocks, "review_skip"))["id"] == ids[0]
    after = blocks_of(_click(slack, "UBOB", "review_skip", button_value(blocks, "review_skip")))
    value = json.loads(button_value(after, "review_skip"))
    assert (value["id"], value["skip"]) == (ids[1], [ids[0]]) and value["t"] > 0
    last = blocks_of(_click(slack, "UBOB", "review_skip", button_value(after, "review_skip")))
    assert "Nothing is waiting" in all_text(last)


def test_ai_drafts_are_labelled_and_verified_by_a_person(slack: SlackApp) -> None:
    with slack.db.session() as s:
        draft = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        draft.llm_model = "gpt-4o-mini"
        other = example(s, None, status=ExampleStatus.DRAFT, origin=Origin.LLM)
        ids = (draft.id, other.id)
    blocks = _review(slack, "UBOB")
    text = all_text(blocks)
    assert "AI draft" in text and "gpt-4o-mini" in text
    assert button_value(blocks, "verify_ok") and "review_approve" not in json.dumps(blocks)
    after = blocks_of(_click(slack, "UBOB", "verify_ok", button_value(blocks, "verify_ok")))
    assert "goes to review" in all_text(after)
    with slack.db.session() as s:
        ex = s.get(Example, ids[0])
        assert ex is not None and ex.status == ExampleStatus.PENDING and ex.verified_by_id
    # The second draft: rejected with a reason through the modal.
    slack.click("UBOB", "verify_reject", button_value(after, "verify_reject"))
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    assert modal["title"]["text"] == "Reject AI draft"
    n = _replies(slack.double)
    assert not slack.submit("UBOB", fill(modal, reason="Made-up facts.")).body.strip()
    _wait_replies(slack.double, n + 1)
    with slack.db.session() as s:
        assert s.get(Example, ids[1]).status == ExampleStatus.REJECTED  # type: ignore[union-attr]


def test_double_clicked_approve_counts_once(slack: SlackApp) -> None:
    with slack.db.session() as s:
        ex = example(s, person(s, "UALICE"))
        example_id = ex.id
    blocks = _review(slack, "UBOB")
    value = button_value(blocks, "review_approve")
    _click(slack, "UBOB", "review_approve", value)
    second = _click(slack, "UBOB", "review_approve", value)
    assert "already reviewed" in str(second["text"])
    assert second["replace_original"] is False  # the first answer stays on screen
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 1
        assert s.get(Example, example_id).review_count == 1  # type: ignore[union-attr]
