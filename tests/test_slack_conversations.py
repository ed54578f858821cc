"""Conversations in the Slack UI, through signed requests against the stand-in: writing one
with "Add turn" (every text kept), switching kind, errors on the turn's field, review showing
every turn escaped, editing the turns, App Home listing them."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import create_engine, func, select

from bot.slack.standin.web_api import MAX_MESSAGE_BLOCKS, SlackDouble, view_problems
from bot.slack.views.turns import ADD_TURN_ACTION, REMOVE_TURN_ACTION, read_turns
from store.categories import get_category
from store.conversations import MAX_TURNS, Turn, turns_of
from store.db import make_engine
from store.enums import ExampleKind, ExampleStatus, TurnRole
from store.examples import PairText, submit_example
from store.models import Example, ExampleRevision, Review
from tests.conversation_steps import (
    choose_kind,
    click,
    click_in_view,
    live_view,
    open_write,
    review,
    submit,
    typed_turns,
    write_turns,
)
from tests.dbs import TestDatabase
from tests.factories import person
from tests.slack_fixtures import all_text, blocks_of, button_value, double, slack
from tests.slack_requests import SlackApp, fill, settings_for

__all__ = ["double", "slack"]  # fixtures

U, A = TurnRole.USER, TurnRole.ASSISTANT
TURNS = [
    Turn(U, "How do I book a meeting room for <!channel> on Friday?"),
    Turn(A, "Open the Rooms app, pick Friday and choose a room with enough seats."),
    Turn(U, "And if every room is taken? <@U0BOSS> & <https://evil.example|click>"),
    Turn(A, "Ask facilities to free one, or book the canteen after lunch hours."),
]


def _count(slack: SlackApp) -> int:
    with slack.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Example)) or 0)


def _write(slack: SlackApp, user: str = "UALICE", turns: list[Turn] = TURNS) -> int:
    view = write_turns(slack, user, open_write(slack, user, "write conversation open_qa"), turns)
    reply = submit(slack, user, view)
    if reply.body.strip():  # the mention in TURNS asks for a confirmation first
        assert reply.json()["response_action"] == "update"
        reply = submit(slack, user, fill(reply.json()["view"], confirm=True))
    assert reply.status == 200 and not reply.body.strip(), reply.body
    slack.double.wait_for("chat.postMessage")
    with slack.db.session() as s:
        return int(s.scalars(select(Example.id).order_by(Example.id.desc())).first() or 0)


def test_a_conversation_is_written_turn_by_turn_and_every_text_kept(slack: SlackApp) -> None:
    view = open_write(slack, "UALICE", "write conversation open_qa")
    assert view["title"]["text"] == "Write a conversation"
    assert [t.role for t in read_turns(fill(view))] == [U, A]  # two empty turns, user first
    # Typed text survives each "Add turn"; the new turn takes the other side.
    filled = typed_turns(view, TURNS[:2])
    after = click_in_view(slack, "UALICE", filled, ADD_TURN_ACTION)
    assert view_problems(after) == []
    assert read_turns(fill(after)) == [*TURNS[:2], Turn(U, "")]
    after = click_in_view(slack, "UALICE", typed_turns(after, TURNS[:3]), ADD_TURN_ACTION)
    assert read_turns(fill(after)) == [*TURNS[:3], Turn(A, "")]
    # Remove last turn drops only the last one; the category stays as chosen.
    fewer = click_in_view(slack, "UALICE", typed_turns(after, TURNS[:3]), REMOVE_TURN_ACTION)
    assert read_turns(fill(fewer)) == TURNS[:3]
    assert fewer["blocks"][0]["element"]["initial_option"]["value"] == "open_qa"
    again = click_in_view(slack, "UALICE", typed_turns(fewer, TURNS[:3]), ADD_TURN_ACTION)
    # The mention in turn 3 asks for a confirmation: the form comes back with every turn.
    body = submit(slack, "UALICE", typed_turns(again, TURNS)).json()
    assert body["response_action"] == "update"
    assert "Please check" in all_text(body["view"]["blocks"])
    assert "Turn 3: This looks like it contains" in all_text(body["view"]["blocks"])
    assert read_turns(fill(body["view"])) == TURNS
    assert view_problems(body["view"]) == []
    reply = submit(slack, "UALICE", fill(body["view"], confirm=True))
    assert reply.status == 200 and not reply.body.strip()
    thanks = slack.double.wait_for("chat.postMessage")[-1]
    assert "conversation" in thanks.args["text"]
    with slack.db.session() as s:
        ex = s.scalars(select(Example)).one()
        assert ex.kind == ExampleKind.CONVERSATION and ex.status == ExampleStatus.PENDING
        assert turns_of(ex) == [Turn(t.role, t.text, None, None) for t in TURNS]
        assert ex.author is not None and ex.author.slack_user_id == "UALICE"
        assert "pii_confirmed" in ex.flags


def test_switching_kind_moves_the_text_both_ways(slack: SlackApp) -> None:
    view = open_write(slack, "UALICE", "write open_qa")
    kinds = next(b for b in view["blocks"] if b.get("block_id") == "kind")
    assert kinds["element"]["initial_option"]["value"] == "pair"
    typed = fill(view, instruction="Where is the wifi password?", response="On the fridge.")
    conv = choose_kind(slack, "UALICE", typed, "conversation")
    assert read_turns(fill(conv)) == [
        Turn(U, "Where is the wifi password?"),
        Turn(A, "On the fridge."),
    ]
    back = choose_kind(slack, "UALICE", fill(conv), "pair")
    values = {
        b["block_id"]: b["element"].get("initial_value")
        for b in back["blocks"]
        if b.get("type") == "input" and b["element"]["type"] == "plain_text_input"
    }
    assert values == {
        "instruction": "Where is the wifi password?",
        "context": None,
        "response": "On the fridge.",
    }


@pytest.mark.parametrize(
    ("turns", "field", "words"),
    [
        ([TURNS[0], Turn(A, "")], "turn_1", "empty"),
        ([TURNS[0], Turn(U, "Hello?"), TURNS[1]], "turn_1", "in a row"),
        ([*TURNS[:3]], "turn_2", "ends with the assistant"),
        ([Turn(A, TURNS[1].text), Turn(U, TURNS[0].text)], "turn_1", "starts with the user"),
    ],
)
def test_errors_come_back_on_the_turns_field_and_nothing_is_stored(
    slack: SlackApp, turns: list[Turn], field: str, words: str
) -> None:
    view = write_turns(slack, "UALICE", open_write(slack, "UALICE"), turns)
    updates = len(slack.double.calls_to("views.update"))
    body = submit(slack, "UALICE", view).json()
    assert body["response_action"] == "errors"  # Slack keeps the modal and what was typed
    assert words in body["errors"][field], body
    assert len(slack.double.calls_to("views.update")) == updates
    assert _count(slack) == 0


def test_a_near_duplicate_conversation_is_refused_on_its_users_turn(slack: SlackApp) -> None:
    _write(slack)
    view = write_turns(slack, "UBOB", open_write(slack, "UBOB"), TURNS)
    errors = submit(slack, "UBOB", view).json()["errors"]
    assert errors and set(errors) <= {"turn_0", "turn_1", "turn_2", "turn_3"}, errors
    assert _count(slack) == 1


def test_a_database_error_keeps_the_modal_and_its_text(
    db: TestDatabase, double: SlackDouble
) -> None:
    # The database error we can cause on demand: another connection holding the lock the
    # submission needs (SQLite's file lock; PostgreSQL's lock on the examples table), with
    # the app waiting at most a moment for it.
    double.reset()
    if db.kind == "sqlite":
        engine = make_engine(db.url, busy_timeout_ms=50)
        holder = create_engine(db.url, connect_args={"isolation_level": None})
        lock, unlock = "BEGIN IMMEDIATE", "ROLLBACK"
    else:
        engine = make_engine(db.url, connect_args={"options": "-c lock_timeout=200"})
        holder = create_engine(db.url, isolation_level="AUTOCOMMIT")
        lock, unlock = "BEGIN; LOCK TABLE examples IN ACCESS EXCLUSIVE MODE", "ROLLBACK"
    app = SlackApp(db, double, settings_for(db.url, double), engine=engine)
    try:
        view = write_turns(app, "UALICE", open_write(app, "UALICE"), TURNS[:2])
        with holder.connect() as conn:
            for statement in lock.split("; "):
                conn.exec_driver_sql(statement)
            body = submit(app, "UALICE", view).json()
            conn.exec_driver_sql(unlock)
        # Slack keeps the modal (and what was typed) when the ack names a field's error.
        assert body["response_action"] == "errors" and list(body["errors"]) == ["category"]
        assert "nothing was" in body["errors"]["category"]  # "… saved" / "… changed"
        assert _count(app) == 0
        # The same modal, submitted again once the database is free, is stored.
        assert not submit(app, "UALICE", view).body.strip()
        assert _count(app) == 1
    finally:
        app.close()
        engine.dispose()
        holder.dispose()


def test_review_shows_every_turn_escaped_and_pings_nobody(slack: SlackApp) -> None:
    example_id = _write(slack)
    blocks = review(slack, "UBOB")
    shown = all_text(blocks)
    for turn in TURNS:
        assert turn.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in shown
    assert "<!channel>" not in shown and "<@U0BOSS>" not in shown and "<https://" not in shown
    assert "4 turns" in shown
    ids = [b.get("block_id") for b in blocks]
    assert ids[:5] == ["head", "show_turn_0", "show_turn_1", "show_turn_2", "show_turn_3"]
    # Approving posts the next message: no message the bot sent carries a live mention (the
    # modals' text boxes hold the raw text, which Slack shows as typed and never parses).
    reply = click(slack, "UBOB", "review_approve", button_value(blocks, "review_approve"))
    messages = [c for c in slack.double.calls if c.method.startswith(("chat.", "response_url:"))]
    every = json.dumps([c.args for c in messages])
    assert "<!channel>" not in every and "<@U0BOSS>" not in every
    assert "Nothing is waiting" in all_text(blocks_of(reply))
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 1
        assert s.get_one(Example, example_id).review_count == 1


def test_nobody_reviews_their_own_conversation(slack: SlackApp) -> None:
    example_id = _write(slack)
    assert "Nothing is waiting" in all_text(review(slack, "UALICE"))
    # A forged Approve on one's own conversation is refused, and nothing is recorded.
    value = json.dumps({"id": example_id, "skip": []})
    click(slack, "UALICE", "review_approve", value)
    assert any("someone else has to review" in t for t in slack.double.posted_texts())
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0


def test_editing_a_conversation_revises_its_turns(slack: SlackApp) -> None:
    example_id = _write(slack)
    blocks = review(slack, "UBOB")
    assert slack.click("UBOB", "review_edit", button_value(blocks, "review_edit")).status == 200
    modal = live_view(slack.double, "views.open", 2)
    assert modal["title"]["text"] == "Edit conversation"
    assert read_turns(fill(modal)) == TURNS  # every turn, as stored
    assert not any(b.get("block_id") == "kind" for b in modal["blocks"])
    # A bad edit comes back on the turn; a good one replaces the turns, keeping the old ones.
    bad = submit(slack, "UBOB", typed_turns(modal, [*TURNS[:3], Turn(A, "")])).json()
    assert bad["response_action"] == "errors" and "empty" in bad["errors"]["turn_3"]
    edited = [*TURNS[:3], Turn(A, "Ask facilities; the canteen is free after two o'clock.")]
    assert not submit(slack, "UBOB", typed_turns(modal, edited)).body.strip()
    with slack.db.session() as s:
        ex = s.get_one(Example, example_id)
        assert [t.text for t in turns_of(ex)] == [t.text for t in edited]
        assert ex.revision == 2 and "two o'clock" in ex.response
        rev = s.scalars(select(ExampleRevision).where(ExampleRevision.example_id == ex.id)).one()
        assert rev.turns == [t.as_dict() for t in TURNS]
        assert s.scalars(select(Review.verdict)).one().value == "edit"


def test_app_home_lists_conversations_and_opens_one(slack: SlackApp) -> None:
    _write(slack)
    assert slack.event({"type": "app_home_opened", "user": "UALICE", "tab": "home"}).status == 200
    home = slack.double.wait_for("views.publish")[-1].reply["view"]
    text = all_text(home["blocks"])
    assert "conversation of 4 turns" in text and "pending" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert view_problems(home) == []
    assert slack.click("UALICE", "open_write_conversation", view=home).status == 200
    modal = live_view(slack.double, "views.open", 2)
    assert [t.role for t in read_turns(fill(modal))] == [U, A]
    # A colleague's "Review one" on the Home tab brings the conversation by DM, every turn.
    posted = len(slack.double.calls_to("chat.postMessage"))
    assert slack.click("UBOB", "open_review", view=home).status == 200
    dm = slack.double.wait_for("chat.postMessage", posted + 1)[-1]
    blocks = blocks_of(dm.args)
    assert sum(str(b.get("block_id", "")).startswith("show_turn_") for b in blocks) == 4
    assert "&lt;!channel&gt;" in all_text(blocks) and "<!channel>" not in json.dumps(dm.args)


def test_forty_long_turns_fit_the_review_message_and_the_edit_modal(slack: SlackApp) -> None:
    # Escaping makes "<&>" three times longer: each turn's section is shortened to fit.
    turns = [Turn(U if i % 2 == 0 else A, f"Turn {i}: " + "<&> " * 740) for i in range(MAX_TURNS)]
    with slack.db.session() as s:
        ex = submit_example(
            s,
            category=get_category(s, "open_qa"),
            text=PairText("", "", ""),
            author=person(s, "UALICE"),
            turns=turns,
        )
        example_id = ex.id
    blocks = review(slack, "UBOB")
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    assert (
        view_problems(
            {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": blocks}
        )
        == []
    )
    shown = [b for b in blocks if str(b.get("block_id", "")).startswith("show_turn_")]
    assert len(shown) == MAX_TURNS and "Edit shows the full text" in shown[0]["text"]["text"]
    assert slack.click("UBOB", "review_edit", button_value(blocks, "review_edit")).status == 200
    modal = live_view(slack.double, "views.open", 1)  # the stand-in checked Slack's limits
    assert read_turns(fill(modal)) == [Turn(t.role, t.text.strip()) for t in turns]
    with slack.db.session() as s:
        assert len(s.get_one(Example, example_id).turns) == MAX_TURNS


@pytest.mark.parametrize(
    "forged",
    [
        {"turn_0": {"turn_0": {"value": "a"}}, "turn_2": {"turn_2": {"value": "b"}}},
        {"turn_0": {"turn_0": {"value": "a"}}, "side_0": {"side_0": {"selected_option": 7}}},
        {"turn_0": {"turn_0": {"value": ["not", "text"]}}},
        {f"turn_{i}": {} for i in range(MAX_TURNS + 1)},
    ],
)
def test_a_forged_turn_state_is_refused_politely_and_changes_nothing(
    slack: SlackApp, caplog: pytest.LogCaptureFixture, forged: dict[str, object]
) -> None:
    view = open_write(slack, "UALICE")
    view["state"] = {"values": forged}
    updates = len(slack.double.calls_to("views.update"))
    with caplog.at_level(logging.INFO):
        assert slack.click("UALICE", ADD_TURN_ACTION, view=view).status == 200
        reply = submit(slack, "UALICE", view)
        slack.settle()
    assert not [r for r in caplog.records if r.exc_info]
    assert "could not be read" in json.dumps(reply.json())  # on the form's first field
    assert any("could not be read" in t for t in slack.double.posted_texts())
    assert len(slack.double.calls_to("views.update")) == updates
    assert _count(slack) == 0
