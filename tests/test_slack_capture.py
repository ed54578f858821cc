"""The "Save as training example" shortcut, driven with signed message_action payloads against
the stand-in's workspace (threads, permalinks, DMs), and the consent flow that follows."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.scheduler.jobs import consent_expiry_job
from bot.slack.handlers.capture import SHORTCUT
from bot.slack.standin.web_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, SlackDouble
from bot.slack.standin.workspace import Message, Workspace
from bot.slack.thread import NOT_IN_CHANNEL, PRIVATE, REPLIES_PAGE
from bot.slack.views.capture import CAPTURE_CALLBACK, MODE_ACTION
from bot.slack.views.consent import ALLOW_ACTION, DECLINE_ACTION
from bot.slack.views.review import example_blocks
from generators.drafts import _approved_ids
from store.contributors import get_or_create_contributor, set_opt_out
from store.enums import ConsentStatus, ExampleKind, ExampleStatus, Origin, TurnRole
from store.errors import NeedsConfirmation, ValidationFailed
from store.examples import PairText, next_for_review, submit_example
from store.export_queries import ExportFilter, iter_keys
from store.models import Capture, Category, Consent, Example
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.slack_fixtures import all_text
from tests.slack_requests import SlackApp, message_action_payload, settings_for

CHANNEL = "C0HELP"
ASKER, EXPERT, CAPTURER, REVIEWER = "UASK", "UEXP", "UCAP", "UREV"
_serial = itertools.count(1)
QUESTION = "How do I rotate the <@UEXP> API keys without downtime?"
ANSWER = (
    "Create the new key first, deploy it to *every* service, then revoke the old one. "
    "Runbook: <https://wiki.example.com/keys?x=1&amp;y=2|key rotation>"
)


@pytest.fixture
def ws() -> Workspace:
    """A workspace with a public channel the bot is in."""
    w = Workspace(bot_user=BOT_USER_ID)
    w.add_channel(CHANNEL, "help", members={BOT_USER_ID, ASKER, EXPERT, CAPTURER})
    return w


@pytest.fixture
def double(ws: Workspace) -> Iterator[SlackDouble]:
    """The stand-in, keeping the workspace's state; it knows everyone's names."""
    with SlackDouble(workspace=ws) as d:
        for uid, name in ((ASKER, "Asha"), (EXPERT, "Eli Expert"), (CAPTURER, "Cam")):
            d.add_user(uid, name)
        yield d


@pytest.fixture
def slack(db: TestDatabase, double: SlackDouble) -> Iterator[SlackApp]:
    """The app served locally against the stand-in."""
    app = SlackApp(db, double, settings_for(db.url, double))
    try:
        yield app
    finally:
        app.close()


def use_shortcut(
    slack: SlackApp, ws: Workspace, msg: Message, *, channel: str = CHANNEL, name: str = "help"
) -> str:
    """The capturer uses the shortcut on `msg`; the name of the response_url Slack gave."""
    url = f"sc-{next(_serial)}"
    ws.issue_response_url(url, CAPTURER, channel, None)
    message: dict[str, Any] = {"user": msg.user, "text": msg.text, "ts": msg.ts}
    if msg.thread_ts:
        message["thread_ts"] = msg.thread_ts
    payload = message_action_payload(
        CAPTURER,
        {"id": channel, "name": name},
        message,
        callback_id=SHORTCUT,
        trigger_id=ws.issue_trigger(CAPTURER),
        response_url=slack.double.response_url(url),
    )
    assert slack.interact(payload).status == 200
    slack.settle()
    return url


def modal(ws: Workspace, user: str = CAPTURER) -> dict[str, Any]:
    """The modal a person sees now, as Slack puts it in payloads."""
    top = ws.top_modal(user)
    assert top is not None, "no modal is open"
    return top.as_json(TEAM_ID, APP_ID, BOT_ID)


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Input blocks by block id."""
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def initial(view: dict[str, Any], block_id: str) -> str | None:
    """A text box's initial value."""
    return inputs(view)[block_id]["element"].get("initial_value")


def with_state(
    view: dict[str, Any],
    *,
    texts: dict[str, str] | None = None,
    anonymise: bool = False,
    confirm: bool = False,
) -> dict[str, Any]:
    """The view with the state a person leaves (initial values kept, `texts` typed over)."""
    texts = texts or {}
    values: dict[str, Any] = {}
    for bid, block in inputs(view).items():
        el = block["element"]
        if el["type"] == "plain_text_input":
            value = texts.get(bid, el.get("initial_value"))
            values[bid] = {el["action_id"]: {"type": "plain_text_input", "value": value}}
        elif el["type"] == "static_select":
            chosen = el["initial_option"]
            values[bid] = {el["action_id"]: {"type": "static_select", "selected_option": chosen}}
        elif el["type"] == "checkboxes":
            on = anonymise if bid == "anonymise" else confirm
            picked = el["options"][:1] if on else []
            values[bid] = {el["action_id"]: {"type": "checkboxes", "selected_options": picked}}
    return {**view, "state": {"values": values}}


def switch_mode(slack: SlackApp, ws: Workspace, mode: str) -> None:
    """The capturer picks Single example / Conversation in the modal."""
    view = with_state(modal(ws))
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": CAPTURER, "username": "ucap", "name": "ucap", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "trigger_id": ws.issue_trigger(CAPTURER),
        "container": {"type": "view", "view_id": view["id"]},
        "view": view,
        "actions": [
            {
                "type": "radio_buttons",
                "action_id": MODE_ACTION,
                "block_id": "mode",
                "selected_option": {"value": mode, "text": {"type": "plain_text", "text": mode}},
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    assert slack.interact(payload).status == 200
    slack.settle()


def save(slack: SlackApp, ws: Workspace, **state: Any) -> Any:
    """Submit the capture modal; the ack's JSON (None: closed)."""
    view = with_state(modal(ws), **state)
    assert view["callback_id"] == CAPTURE_CALLBACK
    reply = slack.submit(CAPTURER, view)
    assert reply.status == 200
    slack.settle()
    return reply.json()


def thread(ws: Workspace) -> tuple[Message, Message]:
    """A question and an expert's answer in a thread of the channel."""
    question = ws.add_message(CHANNEL, ASKER, QUESTION)
    answer = ws.add_message(CHANNEL, EXPERT, ANSWER, thread_ts=question.ts)
    return question, answer


def dm_request(ws: Workspace, user: str) -> Message:
    """The consent request in a person's DM with the bot."""
    dm = ws.channels.get("D" + user)
    assert dm is not None, f"{user} got no DM"
    found = [m for m in dm.messages if "consent" in json.dumps(m.blocks)]
    assert found, f"no consent request in {user}'s DM"
    return found[-1]


def press(slack: SlackApp, ws: Workspace, user: str, action_id: str) -> None:
    """`user` clicks Allow or Decline in their consent request."""
    request = dm_request(ws, user)
    url = f"consent-{next(_serial)}"
    ws.issue_response_url(url, user, "D" + user, request.ts)
    value = next(
        el["value"]
        for b in request.blocks
        for el in b.get("elements", [])
        if el.get("action_id") == action_id
    )
    assert (
        slack.click(user, action_id, value, response_url=slack.double.response_url(url)).status
        == 200
    )
    slack.settle()


def captured(db: TestDatabase) -> Example:
    """The one captured example."""
    with db.session() as s:
        ex = s.scalars(select(Example).where(Example.origin == Origin.CAPTURED)).one()
        _ = ex.turns, ex.capture, ex.category
        s.expunge_all()
        return ex


def consents(db: TestDatabase) -> dict[str, Consent]:
    """Consent requests by Slack user id."""
    with db.session() as s:
        rows = list(s.scalars(select(Consent)))
        s.expunge_all()
        return {c.slack_user_id: c for c in rows}


def test_shortcut_on_a_reply_opens_the_modal_first_then_fills_it_with_the_thread(
    slack: SlackApp, ws: Workspace, double: SlackDouble
) -> None:
    question, answer = thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    # The trigger_id is spent first (after Bolt's one auth.test); everything slow comes after.
    methods = [m for m in double.methods() if m != "auth.test"]
    assert methods[0] == "views.open"
    assert methods.index("views.open") < methods.index("conversations.replies")
    replies = double.last("conversations.replies").args
    assert replies["channel"] == CHANNEL and replies["ts"] == question.ts
    link = double.last("chat.getPermalink").args
    assert link == {**link, "channel": CHANNEL, "message_ts": answer.ts}
    view = modal(ws)
    assert view["callback_id"] == CAPTURE_CALLBACK
    # Mentions by display name, links and emphasis as Markdown, entities decoded.
    assert (
        initial(view, "instruction") == "How do I rotate the @Eli Expert API keys without downtime?"
    )
    assert initial(view, "response") == (
        "Create the new key first, deploy it to **every** service, then revoke the old one. "
        "Runbook: [key rotation](https://wiki.example.com/keys?x=1&y=2)"
    )
    assert inputs(view)["category"]["element"]["initial_option"]["value"] == "open_qa"
    assert "this thread" in all_text(view["blocks"])
    assert [c.args["user"] for c in double.calls_to("users.info")] == [EXPERT]


def test_saving_asks_every_quoted_author_but_the_capturer_for_exactly_their_text(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    question, answer = thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    edited = "Create the new key first, deploy it everywhere, then revoke the old key."
    assert save(slack, ws, texts={"response": edited}) is None
    ex = captured(db)
    assert ex.status == ExampleStatus.AWAITING_CONSENT
    assert ex.response == edited
    assert ex.capture is not None
    assert (ex.capture.channel_id, ex.capture.message_ts, ex.capture.thread_ts) == (
        CHANNEL,
        answer.ts,
        question.ts,
    )
    assert ex.capture.permalink == (
        f"https://acme.slack.com/archives/{CHANNEL}/p{answer.ts.replace('.', '')}"
        f"?thread_ts={question.ts}&cid={CHANNEL}"
    )
    asked = consents(db)
    assert set(asked) == {ASKER, EXPERT}
    assert asked[EXPERT].quoted_text == edited
    assert asked[ASKER].quoted_text == "How do I rotate the @Eli Expert API keys without downtime?"
    assert all(c.status == ConsentStatus.ASKED for c in asked.values())
    request = dm_request(ws, EXPERT)
    assert f"> {edited}" in all_text(request.blocks)
    assert "within 7 days" in all_text(request.blocks)
    assert {el["action_id"] for b in request.blocks for el in b.get("elements", [])} == {
        ALLOW_ACTION,
        DECLINE_ACTION,
    }
    with db.session() as s:
        assert consents(db)[EXPERT].dm_ts == request.ts
        assert s.get(Capture, ex.id) is not None


def test_a_message_in_no_thread_is_captured_alone(
    slack: SlackApp, ws: Workspace, double: SlackDouble, db: TestDatabase
) -> None:
    lone = ws.add_message(CHANNEL, ASKER, "What is the difference between a process and a thread?")
    use_shortcut(slack, ws, lone)
    assert double.calls_to("conversations.replies") == []
    view = modal(ws)
    assert initial(view, "instruction") == lone.text
    assert initial(view, "response") is None
    answer = "A process has its own memory; threads of one process share it."
    save(slack, ws, texts={"response": answer})
    ex = captured(db)
    assert (ex.instruction, ex.response) == (lone.text, answer)
    assert ex.capture is not None and ex.capture.thread_ts is None
    assert set(consents(db)) == {ASKER}  # the response is the capturer's own


def test_bot_not_in_the_channel_says_why_and_how_to_invite_it(
    slack: SlackApp, ws: Workspace, double: SlackDouble, db: TestDatabase
) -> None:
    ws.add_channel("C0OTHER", "random", members={ASKER, CAPTURER})
    msg = ws.add_message("C0OTHER", ASKER, "Where do I file expense reports?")
    url = use_shortcut(slack, ws, msg, channel="C0OTHER", name="random")
    assert all_text(modal(ws)["blocks"]) == NOT_IN_CHANNEL
    ephemeral = double.last(f"response_url:{url}").args
    assert ephemeral["text"] == NOT_IN_CHANNEL and "/invite @crowdtune" in ephemeral["text"]
    assert ephemeral["response_type"] == "ephemeral"
    assert double.calls_to("conversations.replies") == []
    with db.session() as s:
        assert s.scalars(select(Example)).first() is None


def test_a_dm_or_private_channel_is_refused(
    slack: SlackApp, ws: Workspace, double: SlackDouble
) -> None:
    ws.add_channel("D0HUMAN", "directmessage", im=True, members={ASKER, CAPTURER})
    msg = ws.add_message("D0HUMAN", ASKER, "Can you keep this between us?")
    url = use_shortcut(slack, ws, msg, channel="D0HUMAN", name="directmessage")
    assert double.calls_to("views.open") == []  # nothing to open for
    assert double.last(f"response_url:{url}").args["text"] == PRIVATE
    ws.add_channel("C0SECRET", "secret", private=True, members={BOT_USER_ID, ASKER, CAPTURER})
    msg = ws.add_message("C0SECRET", ASKER, "What is the plan for the reorg?")
    url = use_shortcut(slack, ws, msg, channel="C0SECRET", name="secret")
    assert all_text(modal(ws)["blocks"]) == PRIVATE
    assert double.last(f"response_url:{url}").args["text"] == PRIVATE
    assert double.calls_to("conversations.replies") == []


def test_a_sixty_message_thread_is_read_page_by_page_and_saved_as_a_conversation(
    slack: SlackApp, ws: Workspace, double: SlackDouble, db: TestDatabase
) -> None:
    first = ws.add_message(CHANNEL, ASKER, "Question 0: how should we set up the staging database?")
    for i in range(1, 60):
        who = ASKER if i % 3 == 0 else EXPERT
        text = (
            f"Question {i}: and what about part {i}?"
            if who == ASKER
            else f"Answer {i}: do step {i}."
        )
        ws.add_message(CHANNEL, who, text, thread_ts=first.ts)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[5])
    pages = [c.args for c in double.calls_to("conversations.replies")]
    assert len(pages) == 4  # 60 messages, 15 a page
    assert all(int(p["limit"]) == REPLIES_PAGE and p["ts"] == first.ts for p in pages)
    assert "cursor" not in pages[0]
    # Each page asks with the cursor the one before it gave.
    cursors = [
        c.reply["response_metadata"]["next_cursor"]
        for c in double.calls_to("conversations.replies")
    ]
    assert [p.get("cursor") for p in pages[1:]] == cursors[:3] and cursors[3] == ""
    switch_mode(slack, ws, "conversation")
    assert len(double.calls_to("conversations.replies")) == 8  # read again for the new mode
    view = modal(ws)
    sides = [b for bid, b in inputs(view).items() if bid.startswith("side_")]
    assert len(sides) == 40  # 20 questions, 20 answers of two messages each
    assert [s["element"]["initial_option"]["value"] for s in sides[:4]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert initial(view, "turn_1") == "Answer 1: do step 1.\n\nAnswer 2: do step 2."
    save(slack, ws)
    ex = captured(db)
    assert ex.kind == ExampleKind.CONVERSATION and len(ex.turns) == 40
    assert ex.turns[0].role == TurnRole.USER and ex.turns[0].author_slack_user_id == ASKER
    assert ex.turns[0].source_ts == first.ts
    assert ex.turns[39].role == TurnRole.ASSISTANT
    asked = consents(db)
    assert set(asked) == {ASKER, EXPERT}
    assert asked[EXPERT].quoted_text.startswith("Answer 1: do step 1.\n\nAnswer 2: do step 2.")
    assert "Question" not in asked[EXPERT].quoted_text
    assert "Answer" not in asked[ASKER].quoted_text


def test_everyone_allowing_sends_it_to_review_with_a_link_to_the_thread(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws)
    press(slack, ws, ASKER, ALLOW_ACTION)
    assert captured(db).status == ExampleStatus.AWAITING_CONSENT  # one still to answer
    press(slack, ws, EXPERT, ALLOW_ACTION)
    ex = captured(db)
    assert ex.status == ExampleStatus.PENDING
    asked = consents(db)
    assert all(c.status == ConsentStatus.ALLOWED and c.answered_at for c in asked.values())
    assert "allowed" in ws.channels["D" + EXPERT].messages[-1].text
    assert any("waits for review" in m.text for m in ws.channels["D" + CAPTURER].messages)
    with db.session() as s:
        reviewer = get_or_create_contributor(s, TEAM_ID, REVIEWER)
        found = next_for_review(s, reviewer)
        assert found is not None and found.id == ex.id
        provenance = [b for b in example_blocks(found) if b.get("block_id") == "provenance"]
    assert provenance and ex.capture is not None
    link = ex.capture.permalink.replace("&", "&amp;")
    assert f"<{link}|original thread>" in all_text(provenance)


def test_a_decline_deletes_the_quoted_text(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws)
    press(slack, ws, EXPERT, DECLINE_ACTION)
    # Allowing after someone else declined: thanked, and told nothing of theirs is kept.
    press(slack, ws, ASKER, ALLOW_ACTION)
    assert "withdrawn" in ws.channels["D" + ASKER].messages[-1].text
    told = [m.text for m in ws.channels["D" + CAPTURER].messages if "declined" in m.text]
    assert len(told) == 1  # the capturer hears of the withdrawal once
    ex = captured(db)
    assert ex.status == ExampleStatus.REJECTED and "consent_declined" in ex.flags
    assert (ex.instruction, ex.context, ex.response) == ("", "", "")
    asked = consents(db)
    assert asked[EXPERT].status == ConsentStatus.DECLINED and asked[EXPERT].answered_at
    assert {c.quoted_text for c in asked.values()} == {""}
    assert "deleted" in ws.channels["D" + EXPERT].messages[-1].text
    assert ws.channels["D" + EXPERT].messages[-1].blocks[0]["block_id"] == "consent_done"


def test_no_answer_within_the_consent_days_deletes_the_quoted_text(
    slack: SlackApp, ws: Workspace, db: TestDatabase, double: SlackDouble
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws)
    press(slack, ws, ASKER, ALLOW_ACTION)
    asked_at = consents(db)[EXPERT].asked_at
    client = slack.app.client
    early = consent_expiry_job(
        asked_at + timedelta(days=6), sessions=db.sessions, days=7, client=client
    )
    assert early == {"expired": 0, "examples_withdrawn": 0, "dms_updated": 0}
    assert captured(db).status == ExampleStatus.AWAITING_CONSENT
    late = consent_expiry_job(
        asked_at + timedelta(days=7, minutes=1), sessions=db.sessions, days=7, client=client
    )
    assert late == {"expired": 1, "examples_withdrawn": 1, "dms_updated": 1}
    ex = captured(db)
    assert ex.status == ExampleStatus.REJECTED and "consent_expired" in ex.flags
    assert ex.instruction == ex.response == ""
    assert consents(db)[EXPERT].status == ConsentStatus.EXPIRED
    update = double.last("chat.update").args
    assert update["ts"] == dm_request_ts(db, EXPERT) and "expired" in update["text"]


def dm_request_ts(db: TestDatabase, user: str) -> str | None:
    """The ts of the DM that asked `user`."""
    return consents(db)[user].dm_ts


def test_an_opted_out_author_is_never_quoted_and_the_capture_says_so(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    with db.session() as s:
        set_opt_out(s, get_or_create_contributor(s, TEAM_ID, EXPERT), True)
    question, _ = thread(ws)
    ws.add_message(CHANNEL, ASKER, "Thanks, that worked!", thread_ts=question.ts)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-2])
    view = modal(ws)
    assert "1 message by people who opted out of crowdtune left out" in all_text(view["blocks"])
    assert initial(view, "response") is None  # the expert's answer is not offered
    save(slack, ws, texts={"response": "Rotate the new key in before revoking the old one."})
    assert set(consents(db)) == {ASKER}
    # Opting out between opening and saving: the field quoting them is refused.
    lone = ws.add_message(CHANNEL, ASKER, "What is the on-call rotation for the payments team?")
    use_shortcut(slack, ws, lone)
    with db.session() as s:
        set_opt_out(s, get_or_create_contributor(s, TEAM_ID, ASKER), True)
    reply = save(slack, ws, texts={"response": "Weekly, handed over on Mondays."})
    assert reply["response_action"] == "errors"
    assert "opted out" in reply["errors"]["instruction"]


def test_awaiting_consent_is_never_reviewed_exported_or_sent_to_an_llm(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws)
    ex = captured(db)
    assert ex.status == ExampleStatus.AWAITING_CONSENT
    with db.session() as s:
        reviewer = get_or_create_contributor(s, TEAM_ID, REVIEWER)
        assert next_for_review(s, reviewer) is None
        for status in ExampleStatus:
            found = next_for_review(s, reviewer, status=status)
            assert found is None or status == ExampleStatus.AWAITING_CONSENT
        assert list(iter_keys(s, ExportFilter())) == []
    slack.command(REVIEWER, "review")
    slack.settle()
    reply = [c for c in slack.double.calls if c.method.startswith("response_url:cmd-UREV")][-1]
    assert reply.args["text"] == "Nothing to review right now."
    # The LLM's few-shot pool: approved examples only.
    with db.session() as s:
        assert all(
            ex.id not in _approved_ids(s, ex.category, origin)
            for origin in (Origin.HUMAN, Origin.IMPORTED, Origin.CAPTURED)
        )


def test_a_thread_with_broadcasts_captured_and_reviewed_pings_nobody(
    slack: SlackApp, ws: Workspace, db: TestDatabase, double: SlackDouble
) -> None:
    question = ws.add_message(
        CHANNEL, ASKER, "<!channel> <!here> who owns <@UEXP|eli> the <#C0HELP|help> rota?"
    )
    ws.add_message(
        CHANNEL,
        EXPERT,
        "<!everyone> it is <@UASK>, not <@UEXP>; see <https://x.example.com|this>",
        thread_ts=question.ts,
    )
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    view = modal(ws)
    assert initial(view, "instruction") == "@channel @here who owns @Eli Expert the #help rota?"
    # Each person mentioned is looked up once per capture, however often they are mentioned.
    assert sorted(c.args["user"] for c in double.calls_to("users.info")) == [ASKER, EXPERT]
    save(slack, ws)
    press(slack, ws, ASKER, ALLOW_ACTION)
    press(slack, ws, EXPERT, ALLOW_ACTION)
    slack.command(REVIEWER, "review")
    slack.settle()
    shown = [c for c in double.calls if c.method.startswith("response_url:")]
    assert any("who owns" in all_text(c.args.get("blocks") or []) for c in shown)
    for text in double.posted_texts():
        assert "<!" not in text and "<@" not in text and "<#" not in text, text


def test_anonymise_replaces_the_people_mentioned_by_person(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws, anonymise=True)
    ex = captured(db)
    assert ex.instruction == "How do I rotate the [PERSON] API keys without downtime?"
    assert ex.capture is not None and ex.capture.anonymised
    assert consents(db)[ASKER].quoted_text == ex.instruction


def test_the_written_examples_gates_apply_with_errors_on_the_field(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    reply = save(slack, ws, texts={"instruction": "Hm?"})
    assert reply["response_action"] == "errors" and "instruction" in reply["errors"]
    # Personal data is a warning to confirm, not an error.
    reply = save(
        slack, ws, texts={"response": "Mail the new key to asha.k@example.com, then revoke."}
    )
    assert reply["response_action"] == "update"
    again = reply["view"]
    assert "confirm" in inputs(again)
    assert inputs(again)["response"]["element"]["initial_value"].startswith("Mail the new key")
    ws.after_submission(CAPTURER, modal(ws)["id"], reply)
    assert save(slack, ws, confirm=True) is None
    assert captured(db).status == ExampleStatus.AWAITING_CONSENT


def test_a_message_action_without_its_message_is_refused_at_the_gate(slack: SlackApp) -> None:
    payload = message_action_payload(
        CAPTURER,
        {"id": CHANNEL, "name": "help"},
        {"ts": "1.000001", "text": "hi", "user": ASKER},
        callback_id=SHORTCUT,
        trigger_id="1.2.x",
        response_url=slack.double.response_url("gate"),
    )
    for broken in ({**payload, "message": None}, {**payload, "channel": {"name": "x"}}):
        assert slack.interact(broken).status == 400


def test_a_capture_saved_twice_is_stored_once(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    view = with_state(modal(ws))
    assert slack.submit(CAPTURER, view).status == 200
    assert slack.submit(CAPTURER, view).status == 200
    slack.settle()
    with db.session() as s:
        assert len(list(s.scalars(select(Example)))) == 1
    assert len(consents(db)) == 2
    assert utcnow() - consents(db)[ASKER].asked_at < timedelta(minutes=5)


def test_a_near_duplicate_of_a_capture_awaiting_consent_does_not_show_its_text(
    slack: SlackApp, ws: Workspace, db: TestDatabase
) -> None:
    thread(ws)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws)
    ex = captured(db)
    with db.session() as s:
        writer = get_or_create_contributor(s, TEAM_ID, REVIEWER)
        category = s.get(Category, ex.category_id)
        assert category is not None
        with pytest.raises((NeedsConfirmation, ValidationFailed)) as caught:
            submit_example(
                s,
                category=category,
                text=PairText(ex.instruction, "", "Another answer, in other words entirely."),
                author=writer,
                gate=slack.runtime.quality_gate,
            )
    said = str(caught.value)
    assert f"#{ex.id}" in said and "not shown" in said
    assert "rotate" not in said.lower()


def test_a_lone_message_as_a_conversation_needs_a_reply_said_on_the_turn(
    slack: SlackApp, ws: Workspace, double: SlackDouble, db: TestDatabase
) -> None:
    lone = ws.add_message(CHANNEL, ASKER, "Which regions does the EU data residency cover?")
    use_shortcut(slack, ws, lone)
    switch_mode(slack, ws, "conversation")
    # Read back with conversations.replies, which gives a message in no thread alone.
    assert double.last("conversations.replies").args["ts"] == lone.ts
    view = modal(ws)
    assert initial(view, "turn_0") == lone.text
    assert "turn_1" not in inputs(view)
    reply = save(slack, ws)
    assert reply["response_action"] == "errors"
    assert "assistant reply" in reply["errors"]["turn_0"]
    with db.session() as s:
        assert s.scalars(select(Example)).first() is None


def test_a_quoted_author_slack_cannot_reach_does_not_stop_the_others_being_asked(
    slack: SlackApp, ws: Workspace, db: TestDatabase, double: SlackDouble
) -> None:
    thread(ws)
    double.fail("chat.postMessage", "user_not_found", match=lambda a: a.get("channel") == ASKER)
    use_shortcut(slack, ws, ws.channels[CHANNEL].messages[-1])
    save(slack, ws)
    asked = consents(db)
    assert asked[ASKER].dm_ts is None and asked[EXPERT].dm_ts is not None
    assert dm_request(ws, EXPERT) is not None
