"""The jobs against a real database and the Slack Web API double: expiry, digest, export."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.runtime import Runtime
from bot.scheduler.claims import ClaimedRunner
from bot.scheduler.digest import digest_job
from bot.scheduler.jobs import expiry_job, export_job, gap_fill_job
from bot.scheduler.wiring import production_specs
from bot.slack.standin.web_api import VALID_TOKEN, SlackDouble
from store.assignments import response_rates
from store.categories import DEFAULT_CATEGORIES, set_target
from store.deliveries import claim_delivery
from store.enums import AssignmentKind, AssignmentStatus, ExampleStatus, Verdict
from store.models import Assignment, Example, JobRun, ProcessedDelivery
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.llm_double import Reply, generated_examples, running_double
from tests.slack_requests import settings_for

NOW = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Unrelated pairs: the exporter drops near-duplicates, so test rows must not look alike.
PAIRS = [
    (
        "Why is the sky blue on a clear day?",
        "Air scatters short blue wavelengths of sunlight most.",
    ),
    ("Who wrote the novel Moby-Dick?", "Herman Melville published it in 1851."),
    ("List three names for a bakery.", "Crumb & Co, Rise Up, The Daily Loaf."),
    ("How many legs does a spider have?", "Eight legs, unlike insects, which have six."),
]


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    with SlackDouble() as double:
        yield double


def client_for(double: SlackDouble) -> WebClient:
    return WebClient(token=VALID_TOKEN, base_url=double.api_url)


def assign(
    db: TestDatabase,
    who: str,
    *,
    created: datetime,
    expires: datetime | None,
    status: AssignmentStatus = AssignmentStatus.OPEN,
    kind: AssignmentKind = AssignmentKind.REVIEW,
) -> int:
    with db.session() as s:
        p = person(s, who)
        a = Assignment(
            contributor_id=p.id, kind=kind, status=status, created_at=created, expires_at=expires
        )
        s.add(a)
        s.flush()
        return a.id


def test_expiry_closes_only_unanswered_overdue_assignments(db: TestDatabase) -> None:
    overdue = assign(db, "U1", created=NOW - timedelta(hours=5), expires=NOW - timedelta(minutes=1))
    old_default = assign(db, "U2", created=NOW - timedelta(hours=49), expires=None)
    fresh_default = assign(db, "U3", created=NOW - timedelta(hours=47), expires=None)
    not_yet = assign(db, "U4", created=NOW - timedelta(hours=60), expires=NOW + timedelta(hours=1))
    answered = assign(
        db, "U5", created=NOW - timedelta(days=9), expires=None, status=AssignmentStatus.DONE
    )
    done = {"expired": 2, "deliveries_forgotten": 0}
    assert expiry_job(NOW, sessions=db.sessions, hours=48) == done
    assert expiry_job(NOW, sessions=db.sessions, hours=48) == {**done, "expired": 0}
    with db.session() as s:
        status = {a.id: a.status for a in s.scalars(select(Assignment))}
    assert status == {
        overdue: AssignmentStatus.EXPIRED,
        old_default: AssignmentStatus.EXPIRED,
        fresh_default: AssignmentStatus.OPEN,
        not_yet: AssignmentStatus.OPEN,
        answered: AssignmentStatus.DONE,
    }


def test_expiry_forgets_delivery_keys_older_than_a_day(db: TestDatabase) -> None:
    # Every App Home open, submission and interest pick claims a key: kept for Slack's retries
    # (minutes), then forgotten, so the table holds a day of traffic, not all of it.
    with db.session() as s:
        s.add(ProcessedDelivery(key="event:old", created_at=NOW - timedelta(hours=25)))
        s.add(ProcessedDelivery(key="submit:V1", created_at=NOW - timedelta(hours=23)))
    result = expiry_job(NOW, sessions=db.sessions, hours=48)
    assert result == {"expired": 0, "deliveries_forgotten": 1}
    with db.session() as s:
        assert list(s.scalars(select(ProcessedDelivery.key))) == ["submit:V1"]
        assert not claim_delivery(s, "submit:V1")  # a retry of the recent one counts once still


def test_response_rates_per_kind(db: TestDatabase) -> None:
    week = NOW - timedelta(days=7)
    for st in (
        AssignmentStatus.DONE,
        AssignmentStatus.DONE,
        AssignmentStatus.EXPIRED,
        AssignmentStatus.FAILED,
        AssignmentStatus.SKIPPED,
    ):
        assign(db, "U1", created=NOW - timedelta(days=1), expires=None, status=st)
    assign(db, "U1", created=NOW - timedelta(days=30), expires=None, status=AssignmentStatus.DONE)
    with db.session() as s:
        rates = {r.kind: r for r in response_rates(s, since=week, until=NOW)}
    review = rates["review"]
    assert (review.asked, review.answered, review.expired, review.skipped) == (4, 2, 1, 1)
    assert review.rate == 0.5 and rates["write"].asked == 0 and rates["write"].rate == 0.0


def test_digest_uploads_a_png_chart_with_the_summary(db: TestDatabase, slack: SlackDouble) -> None:
    with db.session() as s:
        alice = person(s, "U1", "Alice <!channel>")
        bob = person(s, "U2", "Bob")
        carol = person(s, "U3", "Carol")
        ex = example(s, alice, category="open_qa")
        example(s, alice, category="brainstorming")
        record_review(
            s, example_id=ex.id, reviewer=bob, verdict=Verdict.APPROVE, quorum=Quorum(2, 2)
        )
        record_review(
            s, example_id=ex.id, reviewer=carol, verdict=Verdict.APPROVE, quorum=Quorum(2, 2)
        )
        s.refresh(ex)
        assert ex.status == ExampleStatus.APPROVED
    assign(
        db,
        "U2",
        created=datetime.now(UTC) - timedelta(days=1),
        expires=None,
        status=AssignmentStatus.DONE,
    )
    assign(
        db,
        "U3",
        created=datetime.now(UTC) - timedelta(days=1),
        expires=None,
        status=AssignmentStatus.EXPIRED,
    )
    result = digest_job(
        datetime.now(UTC), sessions=db.sessions, client=client_for(slack), channel="C0DIGEST"
    )
    methods = slack.methods()
    assert methods.index("files.getUploadURLExternal") < methods.index(
        "files.completeUploadExternal"
    )
    assert "files.upload" not in methods
    upload = slack.last("files.getUploadURLExternal")
    png = slack.uploads[result["file_id"]]
    assert png.startswith(PNG_MAGIC) and len(png) == result["png_bytes"] == int(
        upload.args["length"]
    )
    done = slack.last("files.completeUploadExternal")
    assert done.args["channel_id"] == "C0DIGEST"
    text = done.args["initial_comment"]
    assert "weekly digest" in text and "open_qa" not in text  # names, not slugs, in the text
    assert "• Open QA: 1 approved, 0 pending / target 1500" in text
    assert "Alice &lt;!channel&gt;" in text and "<!channel>" not in text
    assert "review: 1/2 answered (50%)" in text
    # Two approvals of one example: pairable, but no variation, so alpha is undefined.
    assert (
        "*Reviewer agreement*: verdicts α = n/a (1 example, 2 reviewers); "
        "ratings α = n/a (0 examples, 0 reviewers) (to date)" in text
    )


def test_gap_fill_without_an_llm_is_skipped_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crowdtune.scheduler")
    result = gap_fill_job(NOW, generate=None)
    assert "no LLM configured" in result["skipped"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "OPENAI_BASE_URL" in lines[0]


def test_export_job_writes_dated_folders_keeps_k_and_posts_changes(
    db: TestDatabase, tmp_path: Path, slack: SlackDouble
) -> None:
    client = client_for(slack)
    counts = iter([{"open_qa": 3, "brainstorming": 1}, {"open_qa": 5, "summarization": 2}] * 3)

    def fake_exporter(out_dir: Path) -> Mapping[str, int]:
        out_dir.mkdir(parents=True)
        (out_dir / "manifest.json").write_text("{}")
        return next(counts)

    def post(text: str) -> None:
        client.chat_postMessage(channel="C0EXPORT", text=text)

    r = ClaimedRunner(db.sessions, "A", jobs={})
    root = tmp_path / "exports"
    (root).mkdir()
    (root / "README.txt").write_text("not an export")
    for day in range(4):
        r.jobs["export"] = lambda now: export_job(
            now, sessions=db.sessions, root=root, keep=2, export=fake_exporter, post=post
        )
        assert r.run_fire("export", scheduled_at=NOW + timedelta(days=7 * day)) == "succeeded"
    kept = sorted(p.name for p in root.iterdir())
    assert kept == ["20260323T090000Z", "20260330T090000Z", "README.txt"]
    texts = [c.args["text"] for c in slack.calls_to("chat.postMessage", ok_only=True)]
    assert len(texts) == 4
    assert "First scheduled export" in texts[0] and "open_qa: 3" in texts[0]
    assert "open_qa: 5 (+2)" in texts[1] and "brainstorming: 0 (-1)" in texts[1]
    assert "summarization: 2 (+2)" in texts[1]


def test_scheduled_export_with_the_real_exporter(
    db: TestDatabase, tmp_path: Path, slack: SlackDouble
) -> None:
    with db.session() as s:
        author = person(s, "U1")
        for cat, (q, a) in zip(("open_qa", "open_qa", "brainstorming"), PAIRS[:3], strict=True):
            example(
                s, author, category=cat, status=ExampleStatus.APPROVED, instruction=q, response=a
            )
    settings = settings_for(
        db.url,
        slack,
        pseudonym_salt="test-salt-0123456789",
        export_root=str(tmp_path / "exports"),
        export_keep=1,
        export_args="--format dolly --balance none --test-size 0",
        export_channel="C0EXPORT",
    )
    rt = Runtime(settings, _engine=db.engine)
    job = next(s.fn for s in production_specs(settings, rt) if s.name == "export")
    r = ClaimedRunner(db.sessions, "A", jobs={"export": job})
    assert r.run_fire("export", scheduled_at=NOW) == "succeeded"
    with db.session() as s:
        q, a = PAIRS[3]
        example(
            s, author, category="open_qa", status=ExampleStatus.APPROVED, instruction=q, response=a
        )
    assert r.run_fire("export", scheduled_at=NOW + timedelta(days=7)) == "succeeded"
    folders = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert folders == ["20260316T090000Z"]  # keep 1: the older export was removed
    assert any(p.suffix == ".jsonl" for p in (tmp_path / "exports" / folders[0]).rglob("*"))
    texts = [c.args["text"] for c in slack.calls_to("chat.postMessage", ok_only=True)]
    assert "open_qa: 2" in texts[0] and "brainstorming: 1" in texts[0]
    assert "open_qa: 3 (+1)" in texts[1] and "brainstorming: 1 (+0)" in texts[1]


def test_scheduled_export_without_a_salt_is_skipped_with_the_reason(
    db: TestDatabase, slack: SlackDouble, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(db.url, slack, pseudonym_salt=None)
    rt = Runtime(settings, _engine=db.engine)
    job = next(s.fn for s in production_specs(settings, rt) if s.name == "export")
    result = job(NOW)
    assert "CROWDTUNE_PSEUDONYM_SALT" in result["skipped"]


def test_gap_fill_drafts_through_the_llm_double(db: TestDatabase, slack: SlackDouble) -> None:
    with running_double() as llm:
        settings = settings_for(
            db.url, slack, openai_base_url=llm.base_url, llm_model="double-model"
        )
        rt = Runtime(settings, _engine=db.engine)
        job = next(s.fn for s in production_specs(settings, rt) if s.name == "gap_fill")
        r = ClaimedRunner(db.sessions, "A", jobs={"gap_fill": job})
        assert r.run_fire("gap_fill", scheduled_at=NOW) == "succeeded"
        assert llm.requests, "the job sent no request to the LLM"
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        drafts = s.scalars(select(Example).where(Example.status == ExampleStatus.DRAFT)).all()
    assert run.result["kept"] == len(drafts) > 0
    assert run.result["tokens"] > 0 and run.result["failed_requests"] == 0


def test_scheduled_drafts_with_personal_data_are_dropped(
    db: TestDatabase, slack: SlackDouble
) -> None:
    # The gap-fill job must apply the same checks as `crowdtune generate` (one shared call).
    with db.session() as s:
        for spec in DEFAULT_CATEGORIES:
            set_target(s, spec.slug, 1 if spec.slug == "open_qa" else 0)
    items = generated_examples("open_qa", 2, 7, False)
    for item in items:
        item["response"] += " Write to john.smith@globex.com for details."
    with running_double() as llm:
        llm.push(Reply(content=json.dumps({"examples": items})))
        settings = settings_for(db.url, slack, openai_base_url=llm.base_url, llm_model="m")
        rt = Runtime(settings, _engine=db.engine)
        job = next(s.fn for s in production_specs(settings, rt) if s.name == "gap_fill")
        result = job(NOW)
        assert len(llm.requests) == 1
    assert result["kept"] == 0
    with db.session() as s:
        assert s.scalars(select(Example)).all() == []
