"""Stats and the quality report count conversations (and their turns) apart from the
examples they are among: `crowdtune stats` (table and JSON), `/crowdtune stats`, and the
report's per-origin figures (JSON, HTML, Slack)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import text, update

from bot.cli import main
from bot.scheduler.digest import collect, render_text
from bot.slack.views.report import report_text
from bot.slack.views.text import stats_text
from exporters.report_html import render_html
from store.enums import ExampleKind, ExampleStatus, Origin, TurnRole
from store.models import Example
from store.report import build_report
from store.stats import _CONVERSATIONS, category_counts, conversation_counts, stats_json
from store.types import utcnow
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_conversation, insert_items
from tests.slack_fixtures import double, slack
from tests.slack_requests import SlackApp, command_fields

__all__ = ["double", "slack"]  # fixtures

U, A = TurnRole.USER, TurnRole.ASSISTANT


def _seed(db: TestDatabase) -> None:
    with db.session() as s:
        insert_items(s, [Item("general_qa", "P1"), Item("open_qa", "P2")])
        insert_conversation(
            s,
            "general_qa",
            "C1",
            [
                (U, "Where do I book a meeting room?"),
                (A, "In the calendar, under Rooms."),
                (U, "Can I book one for a whole week?"),
                (A, "Up to three days; longer needs the office manager."),
            ],
        )
        insert_conversation(
            s,
            "general_qa",
            "C2",
            [(U, "Who orders the snacks?"), (A, "The office team, on Mondays.")],
            status=ExampleStatus.PENDING,
        )
        insert_conversation(
            s,
            "open_qa",
            None,
            [(U, "What is a haiku?"), (A, "A three-line poem of 5, 7 and 5 syllables.")],
            origin=Origin.IMPORTED,
        )


def test_conversation_counts_by_category_and_status_with_their_turns(db: TestDatabase) -> None:
    _seed(db)
    with db.session() as s:
        convs = conversation_counts(s)
        cats = {c.slug: c for c in category_counts(s)}
        doc = stats_json(s)
    assert list(convs) == ["open_qa", "general_qa"]  # display order
    general = convs["general_qa"]
    assert (general.total, general.approved, general.turns) == (2, 1, 6)
    assert general.by_status == {"approved": 1, "pending": 1}
    assert general.turns_by_status == {"approved": 4, "pending": 2}
    assert (convs["open_qa"].total, convs["open_qa"].turns) == (1, 2)
    # One conversation is one example in the category's counts.
    assert cats["general_qa"].approved == 2 and cats["general_qa"].pending == 1
    assert doc["total"] == 5
    assert doc["conversations"] == {
        "total": 3,
        "turns": 8,
        "categories": {
            "open_qa": {
                "draft": 0,
                "pending": 0,
                "awaiting_consent": 0,
                "approved": 1,
                "rejected": 0,
                "turns": 2,
            },
            "general_qa": {
                "draft": 0,
                "pending": 1,
                "awaiting_consent": 0,
                "approved": 1,
                "rejected": 0,
                "turns": 6,
            },
        },
    }


def test_counting_conversations_reads_the_kind_index_not_every_example(db: TestDatabase) -> None:
    with db.session() as s:
        sql = str(_CONVERSATIONS.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        if db.kind == "sqlite":
            rows = s.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            plan = " ".join(str(r[-1]) for r in rows)
            assert "SCAN examples" not in plan
        else:
            # A test table is too small for PostgreSQL to prefer an index on its own: with
            # sequential scans priced out, the plan shows the index serves the query.
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in s.execute(text(f"EXPLAIN {sql}")))
    assert "ix_examples_kind_status_category" in plan


def test_the_stats_command_prints_conversations_and_turns(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(db)
    monkeypatch.setenv("DATABASE_URL", db.url)
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "conversations (counted above too: one conversation is one example)" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["general_qa"][-4:] == ["1", "1", "0", "6"]
    assert "3 conversations, 8 turns" in out
    assert main(["stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["conversations"]["total"], doc["conversations"]["turns"]) == (3, 8)


def test_slack_stats_say_how_many_conversations_each_category_has(db: TestDatabase) -> None:
    _seed(db)
    with db.session() as s:
        reply = stats_text(category_counts(s), conversation_counts(s))
    general = next(line for line in reply.splitlines() if "General" in line)
    assert general.endswith("· 2 conversations (6 turns)")
    assert "Conversations: 3 in all, 8 turns." in reply
    with db.session() as s:
        assert "conversation" not in stats_text(category_counts(s), {})


def test_the_report_counts_conversations_per_origin(db: TestDatabase) -> None:
    _seed(db)
    with db.session() as s:
        report = build_report(s)
    rows = {o.origin: o for o in report.origins}
    assert (rows["human"].examples, rows["human"].conversations, rows["human"].turns) == (4, 2, 6)
    assert (rows["imported"].conversations, rows["imported"].turns) == (1, 2)
    origins = {o["origin"]: o for o in report.as_dict()["origins"]}
    assert (origins["human"]["conversations"], origins["human"]["turns"]) == (2, 6)
    posted = report_text(report)
    assert "human: 3 accepted of 4 (" in posted and "2 conversations (6 turns)" in posted
    assert "1 conversation (2 turns)" in posted
    page = render_html(report)
    assert "of which conversations (turns)" in page and "3 (8)" in page


def test_a_report_since_a_day_counts_only_the_conversations_created_since(
    db: TestDatabase,
) -> None:
    _seed(db)
    long_ago = utcnow() - timedelta(days=30)
    with db.session() as s:
        s.execute(
            update(Example)
            .where(Example.kind == ExampleKind.CONVERSATION, Example.origin == Origin.IMPORTED)
            .values(created_at=long_ago)
        )
    with db.session() as s:
        recent = {o.origin: o for o in build_report(s, since=utcnow() - timedelta(days=1)).origins}
    assert (recent["human"].conversations, recent["human"].turns) == (2, 6)
    assert "imported" not in recent


def test_the_weekly_digest_says_how_many_conversations_each_category_has(
    db: TestDatabase,
) -> None:
    _seed(db)
    with db.session() as s:
        text = render_text(collect(s, now=utcnow()))
    general = next(line for line in text.splitlines() if line.startswith("• General"))
    assert general.endswith("· 2 conversations (6 turns)")
    assert next(line for line in text.splitlines() if line.startswith("• Open")).endswith(
        "· 1 conversation (2 turns)"
    )


def test_slash_stats_through_a_signed_request_shows_the_conversations(slack: SlackApp) -> None:
    _seed(slack.db)
    form = command_fields(slack.double, "UBOB", "stats")
    form["response_url"] = slack.double.response_url("stats-conversations")
    slack.send(urlencode(form).encode(), "application/x-www-form-urlencoded")
    (call,) = slack.double.wait_for("response_url:stats-conversations")
    reply = str(call.args.get("text", ""))
    assert "General QA: 2 approved, 1 pending / " in reply
    assert "· 2 conversations (6 turns)" in reply and "Conversations: 3 in all, 8 turns." in reply
