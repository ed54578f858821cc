"""A seeded, realistic mix of the four origins with reviews, timings and LLM usage.

The browser test renders its report; `python -m tests.report_demo OUT.png` takes the README's
screenshot of the same page (a fresh SQLite file, Chromium from Debian).
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from store.categories import get_category
from store.enums import ExampleStatus, Origin, Verdict
from store.errors import DomainError
from store.examples import PairText, submit_example
from store.llm_usage import record_usage
from store.models import Contributor, Example
from store.reviews import Quorum, record_review, verify_draft
from tests.factories import person

START = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)  # a Monday
WEEKS = 10
QUORUM = Quorum(2, 2)
TOPICS = (
    "the quarterly sales review",
    "our on-call rotation",
    "the new expense policy",
    "unit tests for the billing service",
    "a customer escalation",
    "the hiring pipeline",
    "the data retention rules",
    "a product launch email",
    "the office move",
    "our API rate limits",
    "the incident postmortem",
    "a vendor contract",
    "the team offsite",
    "the mobile app release",
    "feature flags",
    "the security training",
    "a pricing change",
    "database migrations",
    "the holiday schedule",
    "a performance review",
)
OPENINGS = {
    Origin.HUMAN: (
        "How do I",
        "What should",
        "Can you explain",
        "Draft a note about",
        "Why does",
        "List three risks of",
        "Give me tips for",
        "Compare two options for",
        "Summarize",
        "Who owns",
        "When should we revisit",
        "Suggest a plan for",
    ),
    Origin.LLM: ("Explain the", "Write a", "Explain the", "Write a", "Describe the"),
    Origin.IMPORTED: ("What is", "Who was", "Which", "How many", "Name a", "Where is"),
    Origin.TRANSFORMED: ("Summarize the following", "Answer the question using"),
}


def _words(text: str) -> list[str]:
    return text.split()


WORDS = _words(
    "clearly briefly carefully so that new people can follow it and include the key dates "
    "owners risks costs with an example for our team in plain words"
)
# Response vocabulary: people write with more words than a model's or a template's answers.
VOCAB = _words(
    "start by checking who owns the decision then write down what changes for each team and "
    "when most questions come from the first week so answer those in the announcement keep a "
    "short list of open issues and review it every Friday if the numbers look off compare them "
    "with last quarter before escalating ask finance for the approved budget and share the "
    "template with managers a good rule is to automate the boring parts first measure how long "
    "each step takes and remove the slowest one avoid long meetings send a written summary with "
    "links to the tickets the policy applies to contractors too except for travel booked before "
    "the change remember to update the runbook after every incident and thank the people who "
    "helped customers notice delays more than price so publish the timeline early"
)
VOCAB_SIZE = {Origin.HUMAN: len(VOCAB), Origin.IMPORTED: 90, Origin.TRANSFORMED: 60, Origin.LLM: 45}
REASONS = ("Wrong answer.", "Too vague.", "Copied from the context.", "Unsafe advice.")


def _text(rng: random.Random, origin: Origin, n: int) -> PairText:
    opening = rng.choice(OPENINGS[origin])
    topic = TOPICS[n % len(TOPICS)] if origin == Origin.LLM else rng.choice(TOPICS)
    tail = " ".join(rng.sample(WORDS, rng.randint(2, 9)))
    words = rng.randint(8, 80 if origin == Origin.HUMAN else 40)
    pool = VOCAB[: VOCAB_SIZE[origin]]
    response = " ".join(rng.choice(pool) for _ in range(words)).capitalize()
    return PairText(f"{opening} {topic} ({n}) {tail}?", "", response + ".")


def _review_until_decided(
    s: Session,
    rng: random.Random,
    ex: Example,
    reviewers: list[Contributor],
    good: bool,
    at: datetime,
) -> None:
    lenient, dissenter = reviewers[0], reviewers[1]
    for who in rng.sample(reviewers, len(reviewers)):
        if ex.status != ExampleStatus.PENDING:
            break
        if who is lenient:
            approve = True
        elif who is dissenter:
            approve = good if rng.random() < 0.3 else not good
        else:
            approve = good if rng.random() < 0.94 else not good
        quality = (4 if good else 2) + rng.choice((-1, 0, 0, 1))
        out = record_review(
            s,
            example_id=ex.id,
            reviewer=who,
            verdict=Verdict.APPROVE if approve else Verdict.REJECT,
            quorum=QUORUM,
            reason=None if approve else rng.choice(REASONS),
            rating=max(1, min(5, quality)) if rng.random() < 0.7 else None,
        )
        out.review.shown_at = at
        out.review.created_at = at + timedelta(seconds=rng.lognormvariate(3.6, 0.5))
        at = out.review.created_at + timedelta(hours=rng.randint(1, 30))
    if ex.status != ExampleStatus.PENDING:
        ex.decided_at = at


def fill_demo(s: Session, *, seed: int = 7, scale: float = 1.0) -> None:
    """Write the demo corpus: about 330 examples times `scale`, eight reviewers, ten weeks."""
    rng = random.Random(seed)
    writers = [person(s, f"UW{i}", f"writer{i}") for i in range(10)]
    names = ("Robin", "Sam", "Alex", "Kim", "Noor", "Jo", "Lee", "Pat")
    reviewers = [person(s, f"UR{i}", n) for i, n in enumerate(names)]
    cats = [get_category(s, slug) for slug in ("open_qa", "brainstorming", "general_qa")]
    n = 0
    plan = [
        (Origin.HUMAN, round(120 * scale), 0, 0.82),
        (Origin.LLM, round(90 * scale), 3, 0.7),
        (Origin.IMPORTED, round(70 * scale), 0, 0.95),
        (Origin.TRANSFORMED, round(50 * scale), 5, 0.75),
    ]
    for origin, count, from_week, good_rate in plan:
        for _ in range(count):
            n += 1
            at = START + timedelta(
                weeks=rng.randint(from_week, WEEKS - 1), hours=rng.randint(0, 100)
            )
            author = rng.choice(writers) if origin == Origin.HUMAN else None
            status = ExampleStatus.DRAFT if origin == Origin.LLM else ExampleStatus.PENDING
            try:
                ex = submit_example(
                    s,
                    category=rng.choice(cats),
                    text=_text(rng, origin, n),
                    author=author,
                    origin=origin,
                    status=status,
                )
            except DomainError:
                continue
            ex.created_at = at
            good = rng.random() < good_rate
            if origin == Origin.HUMAN:
                ex.write_started_at = at - timedelta(seconds=rng.lognormvariate(5.3, 0.5))
            if origin == Origin.IMPORTED and rng.random() < 0.7:
                ex.status, ex.decided_at = ExampleStatus.APPROVED, at  # trusted as imported
                continue
            if origin == Origin.LLM:
                ex.llm_model, ex.prompt_version = "gpt-4o-mini", "v3"
                ex.draft_instruction, ex.draft_context = ex.instruction, ""
                ex.draft_response = ex.response
                record_usage(
                    s,
                    day=at.date(),
                    model="gpt-4o-mini",
                    category_id=ex.category_id,
                    prompt_tokens=rng.randint(900, 1400),
                    completion_tokens=rng.randint(150, 400),
                    outcome="ok",
                )
                edit = rng.random() < 0.35
                verifier = rng.choice(reviewers[2:])
                out = verify_draft(
                    s,
                    example_id=ex.id,
                    verifier=verifier,
                    verdict=(Verdict.EDIT if edit else Verdict.APPROVE) if good else Verdict.REJECT,
                    quorum=QUORUM,
                    reason=None if good else "Made up facts.",
                    edited=PairText(ex.instruction, "", ex.response + " Checked by a person.")
                    if good and edit
                    else None,
                )
                out.review.shown_at = at
                out.review.created_at = at + timedelta(seconds=rng.lognormvariate(4.0, 0.5))
                if not good:
                    ex.decided_at = out.review.created_at
                    continue
                others = [r for r in reviewers if r is not verifier]
                _review_until_decided(s, rng, ex, others, good, at + timedelta(hours=2))
                continue
            _review_until_decided(s, rng, ex, reviewers, good, at + timedelta(hours=1))
        s.flush()


def screenshot(out: Path) -> Path:
    """Render the demo report and save a full-page PNG of it with Chromium."""
    from playwright.sync_api import sync_playwright

    from exporters.report_html import write_html
    from store.db import session_scope
    from store.report import TokenPrices, build_report
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.dbs import migrated_database

    with tempfile.TemporaryDirectory() as tmp, migrated_database("sqlite", Path(tmp)) as db:
        with session_scope(db.sessions) as s:
            fill_demo(s)
        with session_scope(db.sessions) as s:
            report = build_report(
                s, prices=TokenPrices(0.15, 0.6), now=START + timedelta(weeks=WEEKS)
            )
        page_path = write_html(report, Path(tmp) / "report.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    return out


if __name__ == "__main__":
    print(screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "report.png")))
