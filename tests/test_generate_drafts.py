"""LLM drafts end to end: the real openai client over HTTP against the local double."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from generators.prompts import PROMPT_VERSION
from store.categories import DEFAULT_CATEGORIES
from store.enums import ExampleStatus, Origin
from store.llm_usage import record_usage, tokens_spent
from store.models import LlmUsage
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.gen_helpers import DAY, SleepRecorder, drafts, run_generate, usage_outcomes
from tests.llm_double import LlmDouble, Reply, generated_examples, running_double

SLUGS = [c.slug for c in DEFAULT_CATEGORIES]


@pytest.fixture
def llm() -> Iterator[LlmDouble]:
    with running_double() as double:
        yield double


def test_happy_path_every_category(db: TestDatabase, llm: LlmDouble) -> None:
    report = run_generate(db, llm, categories=None, count=2, per_request=2, concurrency=4)
    assert set(report.categories) == set(SLUGS)
    for slug in SLUGS:
        rep = report.categories[slug]
        assert (rep.asked, rep.requests, rep.returned, rep.kept) == (2, 1, 2, 2), slug
        assert not rep.dropped and not rep.failed_requests
    stored = drafts(db)
    assert len(stored) == 2 * len(SLUGS)
    for ex in stored:
        assert ex.status == ExampleStatus.DRAFT and ex.origin == Origin.LLM
        assert ex.llm_model == "double-model" and ex.prompt_version == PROMPT_VERSION
        assert (ex.draft_instruction, ex.draft_context, ex.draft_response) == (
            ex.instruction,
            ex.context,
            ex.response,
        )
        assert ex.prompt_tokens == 50 and ex.completion_tokens == 100  # 100/200 over 2 items
        assert ex.author_id is None
        if ex.category.needs_context:
            assert ex.context
    # Every request asked for structured output, at the configured model, with our seed.
    for body in llm.requests:
        assert body["model"] == "double-model"
        assert body["response_format"]["type"] == "json_schema"
        assert body["max_tokens"] == 800
    assert usage_outcomes(db) == ["ok"] * len(SLUGS)
    with db.session() as s:
        assert tokens_spent(s, DAY) == 300 * len(SLUGS)


def _good(n: int = 3, seed: int = 1, slug: str = "open_qa") -> str:
    return json.dumps({"examples": generated_examples(slug, n, seed, False)})


FAILURES = {
    # name: (scripted replies, final outcome or "ok", attempts seen by the double)
    "rate_limited_then_ok": ([Reply(status=429, headers={"Retry-After": "7"})], "ok", 2),
    "server_error_twice_then_ok": ([Reply(status=500), Reply(status=503)], "ok", 3),
    "server_error_always": ([Reply(status=500)] * 3, "server_error", 3),
    "malformed_then_ok": ([Reply(content="Sure! Here are your examples:")], "ok", 2),
    "truncated_always": (
        [Reply(content='{"examples": [{"instruction": "Expl', finish_reason="length")] * 3,
        "truncated",
        3,
    ),
    "empty_then_ok": ([Reply(content="")], "ok", 2),
    "refusal_not_retried": ([Reply(content=None, refusal="I can't help with that.")], "refusal", 1),
    "content_filter_not_retried": (
        [Reply(content="", finish_reason="content_filter")],
        "refusal",
        1,
    ),
    "unauthorized_not_retried": ([Reply(status=401)], "client_error_401", 1),
    "wrong_shape_then_ok": ([Reply(content='{"data": "none"}')], "ok", 2),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_failures_are_retried_or_reported(db: TestDatabase, llm: LlmDouble, name: str) -> None:
    script, outcome, attempts = FAILURES[name]
    llm.push(*script)
    sleep = SleepRecorder()
    report = run_generate(db, llm, sleep=sleep)
    rep = report.categories["open_qa"]
    assert len(llm.requests) == attempts
    assert len(usage_outcomes(db)) == attempts  # every attempt is accounted for
    assert len(sleep.waits) == attempts - 1 == rep.retries
    if outcome == "ok":
        assert rep.kept == 3 and not rep.failed_requests
        assert usage_outcomes(db)[-1] == "ok"
    else:
        assert rep.kept == 0 and rep.failed_requests == {outcome: 1}
        assert drafts(db) == []  # nothing half-valid is stored
        assert usage_outcomes(db)[-1] == outcome
    if name == "rate_limited_then_ok":
        assert sleep.waits == [7.0]  # Retry-After honoured, not our backoff
        assert usage_outcomes(db) == ["rate_limited", "ok"]
    if name == "server_error_twice_then_ok":
        assert 0.5 <= sleep.waits[0] <= 1.0 and 1.0 <= sleep.waits[1] <= 2.0  # exponential


def test_timeout_is_retried(db: TestDatabase, llm: LlmDouble) -> None:
    # The double holds the first request until it stops; the client gives up after 0.2 s.
    llm.push(Reply(hang=True))
    sleep = SleepRecorder()
    report = run_generate(db, llm, timeout=0.2, sleep=sleep)
    assert report.categories["open_qa"].kept == 3
    assert usage_outcomes(db) == ["timeout", "ok"]
    assert len(sleep.waits) == 1


def test_wrong_field_types_drop_only_those_items(db: TestDatabase, llm: LlmDouble) -> None:
    items = generated_examples("open_qa", 4, 3, False)
    items[1]["response"] = 42  # type: ignore[assignment]
    items[2]["context"] = ["not", "a", "string"]  # type: ignore[assignment]
    llm.push(Reply(content=json.dumps({"examples": items})))
    report = run_generate(db, llm, count=4, per_request=4)
    rep = report.categories["open_qa"]
    assert (rep.returned, rep.kept, dict(rep.dropped)) == (4, 2, {"wrong_field_types": 2})
    assert {d.instruction for d in drafts(db)} == {items[0]["instruction"], items[3]["instruction"]}


def test_invalid_items_dropped_by_category_rules(db: TestDatabase, llm: LlmDouble) -> None:
    items = generated_examples("closed_qa", 3, 5, True)
    items[0]["context"] = ""  # closed QA needs a reference text
    items[1]["response"] = items[1]["context"]  # a copy of the context is not an answer
    llm.push(Reply(content=json.dumps({"examples": items})))
    report = run_generate(db, llm, categories=["closed_qa"])
    rep = report.categories["closed_qa"]
    assert (rep.kept, dict(rep.dropped)) == (1, {"invalid": 2})


def test_fenced_json_and_bare_list_are_accepted(db: TestDatabase, llm: LlmDouble) -> None:
    llm.push(Reply(content="```json\n" + _good(3, 11) + "\n```"))
    llm.push(Reply(content=json.dumps(generated_examples("open_qa", 3, 12, False))))
    report = run_generate(db, llm, count=6, per_request=3, concurrency=1)
    assert report.categories["open_qa"].kept == 6


def test_server_without_structured_output_falls_back(db: TestDatabase, llm: LlmDouble) -> None:
    llm.push(Reply(status=400, body={"error": {"message": "response_format not supported"}}))
    report = run_generate(db, llm, count=6, per_request=3, concurrency=1)
    assert report.categories["open_qa"].kept == 6
    assert "response_format" in llm.requests[0]
    assert all("response_format" not in body for body in llm.requests[1:])


def test_duplicates_of_corpus_and_batch_are_dropped(db: TestDatabase, llm: LlmDouble) -> None:
    with db.session() as s:
        a = person(s, "UA")
        example(
            s,
            a,
            status=ExampleStatus.APPROVED,
            instruction="What are the main causes of inflation in an economy?",
            response="Demand outpacing supply, rising costs and expanding money supply.",
        )
    fresh = generated_examples("open_qa", 2, 9, False)
    items = [
        {  # a light rewording of the stored example
            "instruction": "What are the main causes of inflation in the economy?",
            "context": "",
            "response": "Too much money chasing too few goods.",
        },
        fresh[0],
        {**fresh[0], "response": "A different answer to the same question."},  # within batch
        fresh[1],
    ]
    llm.push(Reply(content=json.dumps({"examples": items})))
    report = run_generate(db, llm, count=4, per_request=4)
    rep = report.categories["open_qa"]
    assert rep.kept == 2
    assert dict(rep.dropped) == {"duplicate_of_corpus": 1, "duplicate_in_batch": 1}
    kept = [d.instruction for d in drafts(db) if d.origin == Origin.LLM]
    assert kept == [fresh[0]["instruction"], fresh[1]["instruction"]]


def test_duplicate_across_requests_of_one_run(db: TestDatabase, llm: LlmDouble) -> None:
    same = _good(2, 4)
    llm.push(Reply(content=same), Reply(content=same))
    report = run_generate(db, llm, count=4, per_request=2, concurrency=2)
    rep = report.categories["open_qa"]
    assert (rep.kept, dict(rep.dropped)) == (2, {"duplicate_in_batch": 2})


PII = {
    "email": "jane.doe@acme-corp.com",
    "phone": "+1 415 555 0142",
    "mention": "<@U024BE7LH>",
    "card": "4111 1111 1111 1111",
}


def test_pii_never_in_any_request_body(db: TestDatabase, llm: LlmDouble) -> None:
    with db.session() as s:
        a = person(s, "UA")
        for slug in ("open_qa", "brainstorming"):
            for i in range(4):
                example(
                    s,
                    a,
                    category=slug,
                    status=ExampleStatus.APPROVED,
                    instruction=f"Ask {PII['mention']} about the offsite plan number {i}, please?",
                    response=f"Write to {PII['email']} or call {PII['phone']}; card {PII['card']}.",
                )
        from store.categories import get_category

        get_category(s, "open_qa").guideline += f" Questions go to {PII['email']}."
    report = run_generate(db, llm, categories=["open_qa", "brainstorming"], count=6, per_request=3)
    assert sum(r.kept for r in report.categories.values()) == 12
    assert len(llm.raw_bodies) == 4
    for raw in llm.raw_bodies:
        body = raw.decode()
        decoded = json.dumps(json.loads(raw), ensure_ascii=False)
        for value in PII.values():
            assert value not in body and value not in decoded
        assert "[EMAIL]" in decoded and "[PHONE]" in decoded  # the few-shot examples were sent


def test_budget_exhaustion_stops_sending(db: TestDatabase, llm: LlmDouble) -> None:
    plan = run_generate(db, llm, count=6, per_request=1, dry_run=True)
    estimate = plan.estimated_tokens // 6
    budget = 2 * estimate + 50  # room for two worst-case requests, not three
    report = run_generate(db, llm, count=6, per_request=1, concurrency=1, daily_token_budget=budget)
    rep = report.categories["open_qa"]
    assert 2 <= len(llm.requests) < 6
    assert rep.failed_requests["budget"] == 6 - len(llm.requests)
    with db.session() as s:
        assert tokens_spent(s, DAY) <= budget
    # Spent is recorded, so the next run the same day sends nothing.
    sent = len(llm.requests)
    again = run_generate(db, llm, count=6, per_request=1, daily_token_budget=300 * sent)
    assert len(llm.requests) == sent
    assert again.budget_remaining_at_start == 0
    assert again.categories["open_qa"].failed_requests == {"budget": 6}


def test_budget_counts_other_runs_today_only(db: TestDatabase, llm: LlmDouble) -> None:
    from datetime import timedelta

    with db.session() as s:
        for day, tokens in ((DAY, 9_000), (DAY - timedelta(days=1), 1_000_000)):
            record_usage(
                s,
                day=day,
                model="m",
                category_id=None,
                prompt_tokens=tokens,
                completion_tokens=0,
                outcome="ok",
            )
    report = run_generate(db, llm, daily_token_budget=10_000)
    assert report.budget_remaining_at_start == 1_000
    assert report.categories["open_qa"].failed_requests == {"budget": 1}
    assert llm.requests == []


def test_same_seed_same_requests_and_drafts(db: TestDatabase, llm: LlmDouble) -> None:
    def seeded(seed: int) -> tuple[list[str], list[tuple[str, str, str]]]:
        db.reset()
        llm.requests.clear()
        with db.session() as s:
            a = person(s, "UA")
            for i in range(10):
                example(
                    s,
                    a,
                    status=ExampleStatus.APPROVED,
                    instruction=f"Which planet in the solar system is number {i} from the sun?",
                )
        run_generate(
            db,
            llm,
            categories=["open_qa", "general_qa"],
            count=6,
            per_request=2,
            concurrency=4,
            seed=seed,
        )
        bodies = sorted(json.dumps(b, sort_keys=True) for b in llm.requests)
        texts = [(d.instruction, d.context, d.response) for d in drafts(db) if d.origin == "llm"]
        return bodies, texts

    first, second, other = seeded(5), seeded(5), seeded(6)
    assert first == second
    assert len(first[1]) == 12
    assert other[0] != first[0] and other[1] != first[1]


def test_dry_run_sends_and_stores_nothing(db: TestDatabase, llm: LlmDouble) -> None:
    report = run_generate(db, llm, categories=None, dry_run=True)
    assert llm.requests == [] and drafts(db) == [] and usage_outcomes(db) == []
    assert set(report.prompts) == set(SLUGS) and report.estimated_tokens > 0


def test_asks_no_more_than_the_gap(db: TestDatabase, llm: LlmDouble) -> None:
    from store.categories import set_target

    with db.session() as s:
        set_target(s, "open_qa", 2)
        set_target(s, "general_qa", 0)
    report = run_generate(db, llm, categories=["open_qa", "general_qa"], count=10)
    assert report.categories["open_qa"].asked == 2
    assert report.categories["general_qa"].asked == 0
    assert len(llm.requests) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LlmUsage)) == 1


def test_requests_run_concurrently_up_to_the_limit(db: TestDatabase, llm: LlmDouble) -> None:
    # The double answers only once three requests wait (or all nine have come): a fourth
    # in flight would show in max_in_flight, fewer than three would never be answered.
    llm.hold_until, llm.expect_total = 3, 9
    report = run_generate(db, llm, count=9, per_request=1, concurrency=3)
    assert report.categories["open_qa"].kept == 9
    assert llm.max_in_flight == 3


def test_drafts_with_personal_data_are_dropped(db: TestDatabase, llm: LlmDouble) -> None:
    from store.quality.pii import find_pii

    items = generated_examples("open_qa", 3, 21, False)
    items[0]["response"] += " Contact john.smith@globex.com for details."
    llm.push(Reply(content=json.dumps({"examples": items})))
    report = run_generate(db, llm, pii_finder=find_pii)
    rep = report.categories["open_qa"]
    assert (rep.kept, dict(rep.dropped)) == (2, {"personal_data": 1})
    assert all("@" not in d.response for d in drafts(db))
