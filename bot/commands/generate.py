"""`crowdtune generate`: LLM drafts for the categories below target, verified later by people."""

from __future__ import annotations

import argparse
import random
from typing import TYPE_CHECKING, Any

from store.errors import DomainError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runtime import Runtime
    from generators.drafts import GenerationReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `generate` command."""
    p = sub.add_parser("generate", help="draft examples with an LLM for categories below target")
    p.add_argument("--category", action="append", metavar="SLUG", help="only this category")
    p.add_argument("--count", type=int, default=10, help="drafts per category (capped at gap)")
    p.add_argument("--per-request", type=int, default=5, help="examples asked per request")
    p.add_argument("--seed", type=int, help="seed for few-shot sampling (printed when random)")
    p.add_argument("--dry-run", action="store_true", help="print the prompts, send nothing")
    p.set_defaults(handler=run)


def _snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_report(report: GenerationReport, seed: int) -> None:
    mode = "dry run: nothing sent" if report.dry_run else f"{report.kept} drafts stored"
    print(
        f"model {report.model}, prompt {report.prompt_version}, seed {seed}: {mode}; "
        f"{report.budget_remaining_at_start:,} tokens left in today's budget at start"
    )
    header = f"{'category':<24}{'gap':>6}{'asked':>7}{'reqs':>6}{'returned':>9}{'kept':>6}  dropped"
    print(header)
    print("-" * len(header))
    for rep in report.categories.values():
        why = dict(rep.dropped)
        why.update({f"request {k}": v for k, v in rep.failed_requests.items()})
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(why.items())) or "-"
        print(
            f"{rep.slug:<24}{rep.gap:>6}{rep.asked:>7}{rep.requests:>6}"
            f"{rep.returned:>9}{rep.kept:>6}  {reasons}"
        )
    for rep in report.categories.values():
        if rep.drops:
            print(f"dropped in {rep.slug}:")
        for text, reason in rep.drops:
            print(f"  {reason}: {_snippet(text)}")
    if report.dry_run:
        print(f"estimated tokens at most: {report.estimated_tokens:,}")
    else:
        retries = sum(r.retries for r in report.categories.values())
        print(f"tokens spent: {report.tokens:,}; retries: {retries}")


def llm_api_key(settings: Settings) -> str | None:
    """OPENAI_API_KEY as a plain string, or None."""
    return settings.openai_api_key.get_secret_value() if settings.openai_api_key else None


def llm_configured(settings: Settings) -> bool:
    """True when an endpoint or a key is set (a local server may need no key)."""
    return bool(settings.openai_base_url or llm_api_key(settings))


def drafts_from_settings(
    rt: Runtime, *, seed: int, dry_run: bool = False, **options: Any
) -> GenerationReport:
    """generate_drafts with everything settings decide, and the same checks on every path.

    The CLI and the scheduler's gap filling both call this, so neither can forget a
    collaborator (PII scrubbing of prompts, PII and duplicate filtering of answers).
    """
    # openai (a second to import) and the quality checks load only when drafts are made.
    from generators.drafts import generate_drafts
    from generators.llm_client import make_client
    from store.quality.dedup import DedupIndex
    from store.quality.pii import find_pii, scrub_pii

    st = rt.settings
    client = None
    if not dry_run:
        client = make_client(
            base_url=st.openai_base_url, api_key=llm_api_key(st), timeout=st.llm_timeout_seconds
        )
    return generate_drafts(
        rt.sessions,
        client,
        model=st.llm_model,
        concurrency=st.llm_concurrency,
        daily_token_budget=st.llm_daily_token_budget,
        seed=seed,
        scrub=scrub_pii,
        duplicate_index=DedupIndex.from_session,
        duplicate_threshold=st.dedup_warn_threshold,
        pii_finder=find_pii,
        dry_run=dry_run,
        **options,
    )


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Plan, send and store; the prompts only with --dry-run."""
    st = rt.settings
    if args.count < 1 or args.per_request < 1:
        raise DomainError("--count and --per-request must be at least 1")
    if not args.dry_run and not llm_configured(st):
        raise DomainError(
            "no LLM is configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for a "
            "local OpenAI-compatible server (vLLM, llama.cpp, Ollama); see README 'LLM drafts'",
            code="llm_not_configured",
        )
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    report = drafts_from_settings(
        rt,
        seed=seed,
        dry_run=args.dry_run,
        categories=args.category,
        count=args.count,
        per_request=args.per_request,
    )
    if args.dry_run:
        for slug, prompt in report.prompts.items():
            print(f"##### {slug}\n{prompt}")
    _print_report(report, seed)
    failed = sum(sum(r.failed_requests.values()) for r in report.categories.values())
    sent = sum(r.requests for r in report.categories.values())
    return 1 if sent and failed == sent else 0
