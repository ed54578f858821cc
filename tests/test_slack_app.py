"""Signatures, health, escaping, retries, App Home, and the small subcommands, over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.slack.escape import escape_mrkdwn, quote_block
from bot.slack.standin.web_api import SlackDouble
from store.enums import ExampleStatus, Role
from store.models import Category, Contributor, Example, ProcessedDelivery
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_fixtures import all_text, blocks_of, button_value, double, slack
from tests.slack_requests import (
    SIGNING_SECRET,
    SlackApp,
    fill,
    get,
    opened_view,
    settings_for,
    signature,
)

__all__ = ["double", "slack"]  # fixtures

NASTY = "Ping <!channel> <!here> <@U123> and <https://evil.example|click me> & co"


def _reply_text(double: SlackDouble, count: int) -> str:
    with double._lock:
        ok = double._lock.wait_for(
            lambda: sum(c.method.startswith("response_url:") for c in double.calls) >= count,
            timeout=10,
        )
    assert ok, double.methods()
    call = [c for c in double.calls if c.method.startswith("response_url:")][count - 1]
    return str(call.args.get("text", "")) + "\n" + all_text(blocks_of(call.args))


def test_forged_unsigned_and_stale_requests_get_401(slack: SlackApp) -> None:
    body = urlencode({"command": "/crowdtune", "text": "stats", "user_id": "U1"}).encode()
    form = "application/x-www-form-urlencoded"
    now = str(int(time.time()))
    forged = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": signature("wrong", now, body)}
    assert slack.send(body, form, **forged).status == 401
    assert slack.send(body, form, signed=False).status == 401
    garbage = {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=00"}
    assert slack.send(body, form, **garbage).status == 401
    stale_ts = str(int(time.time()) - 6 * 60)
    stale = {
        "X-Slack-Request-Timestamp": stale_ts,
        "X-Slack-Signature": signature(SIGNING_SECRET, stale_ts, body),
    }
    assert slack.send(body, form, **stale).status == 401
    tampered_sig = signature(SIGNING_SECRET, now, body)
    assert (
        slack.send(
            body + b"&x=1",
            form,
            **{"X-Slack-Request-Timestamp": now, "X-Slack-Signature": tampered_sig},
        ).status
        == 401
    )
    assert not slack.double.calls  # nothing reached the Web API
    assert slack.command("U1", "stats").status == 200  # the same request, signed, works


def test_healthz_checks_the_database(slack: SlackApp) -> None:
    reply = get(slack.url + "/healthz")
    assert (reply.status, reply.body) == (200, b"ok\n")


def test_healthz_reports_an_unreachable_database(tmp_path: object, double: SlackDouble) -> None:
    from bot.slack.wsgi import build_wsgi, database_check
    from store.db import make_engine

    # A PostgreSQL port nobody listens on: the check fails, the endpoint says 503.
    engine = make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    wsgi = build_wsgi(lambda *a: None, database_check(engine))  # type: ignore[arg-type]
    seen: list[str] = []
    out = wsgi({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda s, h: seen.append(s))  # type: ignore[arg-type, return-value]
    assert seen == ["503 Service Unavailable"] and b"database" in b"".join(out)


def test_escape_rule_person_text_reaches_slack_inert(slack: SlackApp) -> None:
    with slack.db.session() as s:
        alice = person(s, "UALICE", name="<!channel> Alice")
        example(s, alice, instruction=NASTY, response="Answer with <@U999> & <!everyone>")
    n = 0
    slack.command("UBOB", "review")
    text = _reply_text(slack.double, n + 1)
    assert escape_mrkdwn(NASTY) in text
    slack.command("UBOB", "leaderboard")
    board = _reply_text(slack.double, n + 2)
    assert "&lt;!channel&gt; Alice" in board
    for sent in slack.double.posted_texts():
        for live in ("<!channel>", "<!here>", "<@U123>", "<@U999>", "<!everyone>", "<https://evil"):
            assert live not in sent, sent


def test_long_examples_still_display_within_block_kit_limits(slack: SlackApp) -> None:
    long_text = ("A long paragraph & <more> text. " * 400).strip()  # ~12,800 characters
    with slack.db.session() as s:
        # Imported text may be longer than people may write (store's 3,000-character limit).
        example(
            s,
            person(s, "UALICE"),
            category="summarization",
            context=long_text,
            response="A summary that is short enough.",
            strict=False,
        )
    slack.command("UBOB", "review")
    text = _reply_text(slack.double, 1)
    assert "shortened here" in text
    blocks = blocks_of(
        next(c for c in slack.double.calls if c.method.startswith("response_url:")).args
    )
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    # Editing would cut the text at Slack's 3000-character input limit: refused, in words.
    slack.click("UBOB", "review_edit", button_value(blocks, "review_edit"))
    assert "cannot edit" in _reply_text(slack.double, 2)
    assert not slack.double.calls_to("views.open")


def test_quote_block_never_splits_an_entity() -> None:
    text = "&" * 5000
    quoted = quote_block(text, 2900)
    assert len(quoted) <= 2900
    assert quoted.split("\n")[0].removeprefix("> ").replace("&amp;", "") == ""


def test_rate_limited_calls_are_retried_after_retry_after(slack: SlackApp) -> None:
    slack.double.throttle("views.open", retry_after=3, times=1)
    slack.command("UALICE", "write open_qa")
    calls = slack.double.wait_for("views.open", 2)
    assert [c.status for c in calls] == [429, 200]
    assert slack.sleeps == [3.0]  # waited exactly what Slack asked


def test_app_home_shows_counts_progress_leaders_and_buttons(slack: SlackApp) -> None:
    with slack.db.session() as s:
        alice = person(s, "UALICE", name="Alice")
        for _ in range(3):
            example(s, alice)
    assert (
        slack.event(
            {
                "type": "app_home_opened",
                "user": "UALICE",
                "channel": "DALICE",
                "tab": "home",
                "event_ts": "1.1",
            }
        ).status
        == 200
    )
    publish = slack.double.wait_for("views.publish")[-1]
    assert publish.args["user_id"] == "UALICE"
    view = opened_view(publish.args)
    text = all_text(view["blocks"])
    assert "3 written" in text and "3 waiting for review" in text
    assert "▓" in text or "░" in text
    assert "Alice" in text
    assert button_value(view["blocks"], "open_write") == ""
    assert button_value(view["blocks"], "open_review") == ""


def test_a_retried_event_is_handled_once(slack: SlackApp) -> None:
    event = {
        "type": "app_home_opened",
        "user": "UALICE",
        "channel": "D1",
        "tab": "home",
        "event_ts": "2.2",
    }
    assert slack.event(event, event_id="Ev0RETRY").status == 200
    slack.double.wait_for("views.publish")
    assert slack.event(event, event_id="Ev0RETRY", retry_num=1).status == 200
    assert slack.event(event, event_id="Ev0RETRY", retry_num=2).status == 200
    # A later, distinct event is handled: it proves the retries were seen and dropped.
    assert slack.event(event, event_id="Ev0OTHER").status == 200
    slack.double.wait_for("views.publish", 2)
    assert len(slack.double.calls_to("views.publish")) == 2
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessedDelivery)) == 2


def test_home_buttons_open_write_and_send_a_review(slack: SlackApp) -> None:
    with slack.db.session() as s:
        example(s, person(s, "UALICE"))
    home_view = {"id": "VHOME", "type": "home", "blocks": []}
    slack.click("UBOB", "open_write", "", view=home_view)
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    assert modal["callback_id"] == "write_submit"
    slack.click("UBOB", "open_review", "", view=home_view)
    dm = slack.double.wait_for("chat.postMessage")[-1]
    assert dm.args["channel"] == "UBOB" and button_value(blocks_of(dm.args), "review_approve")


def test_stats_leaderboard_help_and_unknown(slack: SlackApp) -> None:
    with slack.db.session() as s:
        example(s, person(s, "UALICE", name="Alice"))
    slack.command("UBOB", "stats")
    assert "Open QA: 0 approved, 1 pending / 1500" in _reply_text(slack.double, 1)
    slack.command("UBOB", "leaderboard")
    assert "1. Alice: 0 approved, 1 written, 0 reviews" in _reply_text(slack.double, 2)
    slack.command("UBOB", "help")
    help_text = _reply_text(slack.double, 3)
    assert "/crowdtune write [category]" in help_text and "targets" not in help_text
    slack.command("UBOB", "dance")
    assert "I don't know `dance`" in _reply_text(slack.double, 4)
    slack.command("UBOB", "")
    assert "/crowdtune review" in _reply_text(slack.double, 5)


def test_optout_and_optin(slack: SlackApp) -> None:
    slack.command("UBOB", "optout")
    assert "won't send you reminders" in _reply_text(slack.double, 1)
    with slack.db.session() as s:
        bob = s.scalars(select(Contributor).where(Contributor.slack_user_id == "UBOB")).one()
        assert bob.opted_out and bob.opted_out_at is not None
    slack.command("UBOB", "optin")
    assert "Welcome back" in _reply_text(slack.double, 2)
    with slack.db.session() as s:
        bob = s.scalars(select(Contributor).where(Contributor.slack_user_id == "UBOB")).one()
        assert not bob.opted_out


def test_admin_commands_refuse_politely_and_work_for_admins(slack: SlackApp) -> None:
    slack.command("UBOB", "targets set open_qa 10")
    assert "is for crowdtune admins" in _reply_text(slack.double, 1)
    slack.command("UBOB", "export")
    assert "is for crowdtune admins" in _reply_text(slack.double, 2)
    # Admin by configuration (CROWDTUNE_ADMINS=UADMIN):
    slack.command("UADMIN", "targets")
    assert "`open_qa`: target 1500" in _reply_text(slack.double, 3)
    slack.command("UADMIN", "targets set open_qa 10")
    assert "set to 10" in _reply_text(slack.double, 4)
    slack.command("UADMIN", "targets set open_qa many")
    assert "Usage" in _reply_text(slack.double, 5)
    # Admin by role in the store:
    with slack.db.session() as s:
        person(s, "UCAROL").role = Role.ADMIN
    slack.command("UCAROL", "export")
    assert "crowdtune export --format dolly,alpaca,openai,sharegpt,parquet" in _reply_text(
        slack.double, 6
    )
    # This app has no pseudonym salt: the export stops with what to set, not a traceback.
    assert "CROWDTUNE_PSEUDONYM_SALT" in _reply_text(slack.double, 7)
    with slack.db.session() as s:
        assert s.scalars(select(Category).where(Category.slug == "open_qa")).one().target == 10


def test_admin_export_writes_a_dataset(
    db: TestDatabase, double: SlackDouble, tmp_path: Path
) -> None:
    double.reset()
    with db.session() as s:
        for n, question in enumerate(
            (
                "Why do cats purr when they are content?",
                "How do vaccines train the immune system?",
                "What makes sourdough bread rise without yeast packets?",
                "Which planets in our solar system have rings?",
            )
        ):
            example(s, person(s, f"UW{n}"), status=ExampleStatus.APPROVED, instruction=question)
    settings = settings_for(
        db.url,
        double,
        admin_user_ids="UADMIN",
        export_root=str(tmp_path / "exports"),
        pseudonym_salt="test-salt-0123456789",
    )
    app = SlackApp(db, double, settings)
    try:
        app.command("UADMIN", "export --format dolly --test-size 0.25")
        text = _reply_text(double, 2)
        assert "4 examples" in text
        (folder,) = (tmp_path / "exports").iterdir()
        assert (folder / "manifest.json").is_file()
    finally:
        app.close()


def test_export_calls_the_injected_exporter(db: TestDatabase, double: SlackDouble) -> None:
    double.reset()
    seen: list[str] = []

    def exporter(options: str) -> str:
        seen.append(options)
        return "exported 12 examples to exports/2026-11-24"

    app = SlackApp(
        db, double, settings_for(db.url, double, admin_user_ids="UADMIN"), exporter=exporter
    )
    try:
        app.command("UADMIN", "export --format dolly")
        assert "exported 12 examples" in _reply_text(double, 2)
        assert seen == ["--format dolly"]
    finally:
        app.close()


@pytest.mark.parametrize("error", ["not_in_channel", "account_inactive"])
def test_a_failed_reply_is_logged_not_a_crash_loop(slack: SlackApp, error: str) -> None:
    # The thank-you DM fails; the example is still stored and the app keeps serving.
    slack.double.fail("chat.postMessage", error, times=1)
    slack.command("UALICE", "write open_qa")
    view = opened_view(slack.double.wait_for("views.open")[-1].args)
    reply = slack.submit(
        "UALICE", fill(view, instruction="What is the capital of France?", response="Paris.")
    )
    assert reply.status == 200 and not reply.body.strip()
    assert slack.double.wait_for("chat.postMessage")[0].reply["error"] == error
    with slack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 1
    slack.command("UALICE", "stats")
    assert "Open QA: 0 approved, 1 pending" in _reply_text(slack.double, 1)
    assert len(slack.double.calls_to("chat.postMessage")) == 1  # no retry storm


def test_a_broken_modal_submission_is_answered_in_the_modal(slack: SlackApp) -> None:
    # private_metadata without the example id: a bug, not the person's fault.
    with slack.db.session() as s:
        example(s, person(s, "UALICE"))
    slack.command("UBOB", "review")
    _reply_text(slack.double, 1)
    blocks = blocks_of(next(c for c in slack.double.calls if c.method.startswith("response")).args)
    slack.click("UBOB", "review_reject", button_value(blocks, "review_reject"))
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    modal["private_metadata"] = "{}"
    body = slack.submit("UBOB", fill(modal, reason="Because.")).json()
    assert body["response_action"] == "errors"
    assert "went wrong on our side" in body["errors"]["reason"]


def test_nudge_buttons_open_the_asked_category_and_snooze(slack: SlackApp) -> None:
    slack.click("UBOB", "open_write", "summarization")
    modal = opened_view(slack.double.wait_for("views.open")[-1].args)
    assert modal["blocks"][0]["element"]["initial_option"]["value"] == "summarization"
    slack.click("UBOB", "snooze", "7")
    assert "no reminders for 7 days" in _reply_text(slack.double, 1)
    with slack.db.session() as s:
        bob = s.scalars(select(Contributor).where(Contributor.slack_user_id == "UBOB")).one()
        assert bob.snoozed_until is not None and bob.snoozed_until > bob.created_at


def test_socket_mode_app_needs_no_signing_secret(db: TestDatabase, double: SlackDouble) -> None:
    from bot.runtime import Runtime
    from bot.slack.app import build_app

    settings = settings_for(db.url, double, slack_signing_secret=None, slack_app_token="xapp-1")
    assert build_app(Runtime(settings, _engine=db.engine), verify_signatures=False) is not None
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        build_app(Runtime(settings, _engine=db.engine))
