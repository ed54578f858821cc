"""Gap-driven LLM drafts: few-shot prompts per category, concurrent requests, validation,
deduplication against the corpus and the batch, and survivors stored as `draft`."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from openai import AsyncOpenAI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from generators.calls import CallResult, RetryPolicy, TokenBudget, call_with_retries
from generators.parsing import Candidate
from generators.prompts import (
    PROMPT_VERSION,
    CategoryBrief,
    FewShot,
    build_messages,
    render_prompt,
    response_format,
)
from store.categories import get_category, list_categories
from store.db import session_scope
from store.enums import ExampleKind, ExampleStatus, Origin
from store.examples import PairText, exists_hash, submit_example
from store.llm_usage import record_usage, remaining_budget
from store.models import Category, Example
from store.quality.dedup import prompt_text
from store.quality.injection import PROMPT_INJECTION, defang_markup, find_injection
from store.stats import gaps
from store.validation import content_hash, validate_pair

Scrubber = Callable[[str], str]
# Returns the personal data found in a text (store.quality.pii.find_pii fits); empty = none.
PiiFinder = Callable[[str], Sequence[object]]


class NearMatchLike(Protocol):
    """What a near-duplicate hit must tell us."""

    @property
    def example_id(self) -> int:
        """The stored example that is similar."""
        ...

    @property
    def score(self) -> float:
        """Similarity in [0, 1]."""
        ...


class NearDuplicateIndex(Protocol):
    """The corpus near-duplicate index (store.quality.dedup.DedupIndex fits)."""

    def nearest(
        self, text: str, *, k: int = 5, threshold: float = 0.7, exclude_id: int | None = None
    ) -> Sequence[NearMatchLike]:
        """Stored examples at least `threshold` similar to `text`, most similar first."""
        ...

    def add(self, example_id: int, text: str, category_slug: str) -> None:
        """Index a newly stored example."""
        ...


DuplicateIndexFactory = Callable[[Session], NearDuplicateIndex]


@dataclass
class CategoryReport:
    """One category's run: asked, returned, kept, dropped by reason, failed requests."""

    slug: str
    gap: int = 0
    asked: int = 0
    requests: int = 0
    returned: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    # One (draft's instruction, why it was dropped) per dropped draft, in the order seen.
    drops: list[tuple[str, str]] = field(default_factory=list)
    failed_requests: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    example_ids: list[int] = field(default_factory=list)


@dataclass
class GenerationReport:
    """What a run did, per category, with tokens and the prompts (for `--dry-run`)."""

    model: str
    prompt_version: str
    dry_run: bool
    budget_remaining_at_start: int
    categories: dict[str, CategoryReport] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    estimated_tokens: int = 0
    waits: list[float] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Drafts stored in this run."""
        return sum(c.kept for c in self.categories.values())

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens spent in this run."""
        return sum(c.prompt_tokens + c.completion_tokens for c in self.categories.values())


@dataclass(frozen=True)
class _Request:
    index: int
    category_id: int
    slug: str
    n: int
    params: dict[str, Any]
    estimate: int


def _utc_today() -> date:
    return datetime.now(UTC).date()


def _approved_ids(session: Session, category: Category, origin: Origin) -> list[int]:
    # Approved only: nothing awaiting review, nor captured text awaiting its authors' consent,
    # ever reaches the model. Pairs only: the drafts are pairs, and a conversation's joined
    # sides would show the model a pair nobody wrote.
    return list(
        session.scalars(
            select(Example.id)
            .where(
                Example.category_id == category.id,
                Example.status == ExampleStatus.APPROVED,
                Example.origin == origin,
                Example.kind == ExampleKind.PAIR,
            )
            .order_by(Example.id)
        )
    )


def _sample_few_shot(
    session: Session,
    pools: tuple[Sequence[int], Sequence[int]],
    k: int,
    rng: random.Random,
    scrub: Scrubber,
) -> list[FewShot]:
    # People's own approved examples first; imported ones (a public human-written dataset)
    # only fill in while a category has fewer than k. Never LLM drafts.
    human, imported = pools
    chosen = rng.sample(list(human), min(k, len(human)))
    if len(chosen) < k:
        chosen += rng.sample(list(imported), min(k - len(chosen), len(imported)))
    if not chosen:
        return []
    rows = session.scalars(select(Example).where(Example.id.in_(chosen)).order_by(Example.id))
    return [FewShot(scrub(e.instruction), scrub(e.context), scrub(e.response)) for e in rows]


def _plan(
    session: Session,
    *,
    model: str,
    categories: Sequence[str] | None,
    count: int,
    per_request: int,
    seed: int,
    few_shot: int,
    max_tokens_per_item: int,
    scrub: Scrubber,
    report: GenerationReport,
) -> list[_Request]:
    if categories:
        chosen = [get_category(session, slug) for slug in categories]
    else:
        chosen = list_categories(session, active_only=True)
    gap_of = gaps(session)
    requests: list[_Request] = []
    for cat in chosen:
        rep = report.categories.setdefault(cat.slug, CategoryReport(cat.slug))
        rep.gap = gap_of.get(cat.slug, 0)
        rep.asked = min(count, rep.gap) if cat.active else 0
        brief = CategoryBrief(cat.slug, cat.name, scrub(cat.guideline), cat.needs_context)
        left, chunk = rep.asked, 0
        pools: tuple[list[int], list[int]] = ([], [])
        if rep.asked:
            human = _approved_ids(session, cat, Origin.HUMAN)
            imported = _approved_ids(session, cat, Origin.IMPORTED) if len(human) < few_shot else []
            pools = (human, imported)
        while left > 0:
            n = min(per_request, left)
            rng = random.Random(f"{seed}:{cat.slug}:{chunk}")
            samples = _sample_few_shot(session, pools, few_shot, rng, scrub)
            messages = build_messages(brief, samples, n)
            if chunk == 0:
                report.prompts[cat.slug] = render_prompt(messages)
            max_tokens = max_tokens_per_item * n
            params: dict[str, Any] = {
                "model": model,
                "messages": messages,
                "response_format": response_format(),
                "temperature": 0.7,
                "seed": seed * 1_000 + chunk,
                "max_tokens": max_tokens,
            }
            # About 3 characters per token keeps the estimate on the safe side.
            estimate = sum(len(m["content"]) for m in messages) // 3 + max_tokens
            requests.append(_Request(len(requests), cat.id, cat.slug, n, params, estimate))
            report.estimated_tokens += estimate
            left -= n
            chunk += 1
    return requests


class _Keeper:
    """Stores the survivors of each answer, in request order, so runs are reproducible."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        report: GenerationReport,
        *,
        model: str,
        index: NearDuplicateIndex | None,
        threshold: float,
        pii_finder: PiiFinder | None,
    ) -> None:
        self.sessions = sessions
        self.pii_finder = pii_finder
        self.report = report
        self.model = model
        self.index = index
        self.threshold = threshold
        self.created: set[int] = set()
        self.batch_hashes: set[str] = set()

    def keep(self, req: _Request, result: CallResult) -> None:
        rep = self.report.categories[req.slug]
        rep.requests += 1
        rep.retries += result.retries
        rep.prompt_tokens += result.prompt_tokens
        rep.completion_tokens += result.completion_tokens
        self.report.waits.extend(result.waits)
        if result.outcome != "ok":
            rep.failed_requests[result.outcome] += 1
            return
        rep.returned += len(result.candidates) + len(result.bad_items)
        if result.bad_items:
            rep.dropped["wrong_field_types"] += len(result.bad_items)
            rep.drops.extend(
                (f"(item {b.index + 1} of the answer)", f"wrong field types: {b.problem}")
                for b in result.bad_items
            )
        candidates = result.candidates
        if len(candidates) > req.n:
            rep.dropped["more_than_asked"] += len(candidates) - req.n
            rep.drops.extend(
                (c.instruction, f"more than the {req.n} asked for") for c in candidates[req.n :]
            )
            candidates = candidates[: req.n]
        share_p = result.prompt_tokens // max(1, len(candidates))
        share_c = result.completion_tokens // max(1, len(candidates))
        stored: list[int] = []
        with session_scope(self.sessions) as s:
            category = s.get(Category, req.category_id)
            assert category is not None
            for raw in candidates:
                text, flags = _defanged(raw)
                cand = Candidate(text.instruction, text.context, text.response)
                rejection = self._rejection(s, category, cand)
                if rejection:
                    reason, detail = rejection
                    rep.dropped[reason] += 1
                    rep.drops.append((cand.instruction, detail))
                    continue
                ex = submit_example(
                    s,
                    category=category,
                    text=text,
                    author=None,
                    origin=Origin.LLM,
                    status=ExampleStatus.DRAFT,
                    flags=flags,
                )
                ex.llm_model = self.model
                ex.prompt_version = PROMPT_VERSION
                ex.draft_instruction = ex.instruction
                ex.draft_context = ex.context
                ex.draft_response = ex.response
                ex.prompt_tokens, ex.completion_tokens = share_p, share_c
                s.flush()
                # Indexed at once, so the next item of this same answer is compared with it;
                # if the commit fails the run stops, and this run's index goes with it.
                self.batch_hashes.add(ex.content_hash)
                self.created.add(ex.id)
                if self.index is not None:
                    self.index.add(ex.id, prompt_text(ex.instruction, ex.context), req.slug)
                stored.append(ex.id)
        rep.kept += len(stored)
        rep.example_ids.extend(stored)

    def _rejection(self, s: Session, category: Category, cand: Candidate) -> tuple[str, str] | None:
        """(reason code, what exactly was wrong) for a draft that is not kept, else None."""
        problems = validate_pair(
            category, cand.instruction, cand.context, cand.response, strict=True
        )
        if problems:
            return "invalid", "invalid: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
        digest = content_hash(cand.instruction.strip(), cand.context.strip(), cand.response.strip())
        if digest in self.batch_hashes:
            return "duplicate_in_batch", "same text as another draft of this run"
        if exists_hash(s, digest):
            return "duplicate_of_corpus", "same text as a stored example"
        if self.index is not None:
            text = prompt_text(cand.instruction, cand.context)
            hits = self.index.nearest(text, k=1, threshold=self.threshold)
            if hits:
                hit = hits[0]
                if hit.example_id in self.created:
                    what = f"near-duplicate of draft #{hit.example_id} of this run"
                    return "duplicate_in_batch", f"{what} (ROUGE-L {hit.score:.2f})"
                what = f"near-duplicate of example #{hit.example_id}"
                return "duplicate_of_corpus", f"{what} (ROUGE-L {hit.score:.2f})"
        if self.pii_finder is not None:
            for name, value in (
                ("instruction", cand.instruction),
                ("context", cand.context),
                ("response", cand.response),
            ):
                if self.pii_finder(value):
                    return "personal_data", f"personal data in the {name}"
        return None


def _defanged(cand: Candidate) -> tuple[PairText, list[str]]:
    """A draft's text with chat markup escaped, flagged when it speaks to a model or readers,
    so verifiers see the warning and nothing the model wrote can ping a channel."""
    texts = (cand.instruction, cand.context, cand.response)
    found = any(find_injection(t) for t in texts)
    clean = PairText(*(defang_markup(t) for t in texts))
    return clean, [PROMPT_INJECTION] if found else []


async def agenerate_drafts(
    session_factory: sessionmaker[Session],
    client: AsyncOpenAI | None,
    *,
    model: str,
    categories: Sequence[str] | None = None,
    count: int = 10,
    per_request: int = 5,
    concurrency: int = 4,
    daily_token_budget: int,
    seed: int = 0,
    scrub: Scrubber,
    duplicate_index: DuplicateIndexFactory | None = None,
    duplicate_threshold: float = 0.7,
    pii_finder: PiiFinder | None = None,
    few_shot: int = 3,
    max_tokens_per_item: int = 400,
    dry_run: bool = False,
    retry: RetryPolicy | None = None,
    today: Callable[[], date] = _utc_today,
) -> GenerationReport:
    """Draft up to `count` examples for each category below target (or the ones named)."""
    if count < 1 or per_request < 1 or concurrency < 1:
        raise ValueError("count, per_request and concurrency must be at least 1")
    day = today()
    with session_scope(session_factory) as s:
        report = GenerationReport(
            model, PROMPT_VERSION, dry_run, remaining_budget(s, day, daily_token_budget)
        )
        requests = _plan(
            s,
            model=model,
            categories=categories,
            count=count,
            per_request=per_request,
            seed=seed,
            few_shot=few_shot,
            max_tokens_per_item=max_tokens_per_item,
            scrub=scrub,
            report=report,
        )
        index = duplicate_index(s) if duplicate_index and not dry_run and requests else None
    if dry_run or not requests:
        return report
    if client is None:
        raise ValueError("an LLM client is needed unless dry_run is set")
    policy = retry or RetryPolicy(rng=random.Random(seed))
    budget = TokenBudget(report.budget_remaining_at_start)
    keeper = _Keeper(
        session_factory,
        report,
        model=model,
        index=index,
        threshold=duplicate_threshold,
        pii_finder=pii_finder,
    )
    structured_ok = [True]
    gate = asyncio.Semaphore(concurrency)
    done: dict[int, CallResult] = {}
    next_to_keep = 0

    drain = asyncio.Lock()

    def usage_recorder(req: _Request) -> Callable[[str, int, int], Awaitable[None]]:
        def write(outcome: str, pt: int, ct: int) -> None:
            with session_scope(session_factory) as us:
                record_usage(
                    us,
                    day=day,
                    model=model,
                    category_id=req.category_id,
                    prompt_tokens=pt,
                    completion_tokens=ct,
                    outcome=outcome,
                )

        async def on_usage(outcome: str, pt: int, ct: int) -> None:
            # Database work runs in a thread so the event loop keeps other requests moving.
            await asyncio.to_thread(write, outcome, pt, ct)

        return on_usage

    async def run(req: _Request) -> None:
        nonlocal next_to_keep
        async with gate:
            result = await call_with_retries(
                client,
                req.params,
                policy=policy,
                budget=budget,
                estimate=req.estimate,
                on_usage=usage_recorder(req),
                structured_ok=structured_ok,
            )
        done[req.index] = result
        # Keep answers in request order, so the same seed gives the same stored drafts.
        async with drain:
            while next_to_keep in done:
                index = next_to_keep
                await asyncio.to_thread(keeper.keep, requests[index], done.pop(index))
                next_to_keep = index + 1

    await asyncio.gather(*(run(r) for r in requests))
    return report


def generate_drafts(
    session_factory: sessionmaker[Session], client: AsyncOpenAI | None, **kwargs: Any
) -> GenerationReport:
    """Synchronous `agenerate_drafts` for the CLI and scheduled jobs; closes the client after,
    since its connections belong to the event loop that ends here."""

    async def run_and_close() -> GenerationReport:
        try:
            return await agenerate_drafts(session_factory, client, **kwargs)
        finally:
            if client is not None:
                await client.close()

    return asyncio.run(run_and_close())
