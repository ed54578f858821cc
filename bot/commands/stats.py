"""`crowdtune stats`: counts per category and status, with targets."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from store.db import session_scope
from store.stats import (
    category_counts,
    conversation_counts,
    draft_edit_stats,
    llm_edits_json,
    stats_json,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `stats` command."""
    p = sub.add_parser("stats", help="counts per category and status, with targets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Print stats as a table or as JSON."""
    with session_scope(rt.sessions) as s:
        if args.json:
            doc = stats_json(s)
            doc["llm_edits"] = llm_edits_json(s)
            print(json.dumps(doc, indent=2, sort_keys=False))
            return 0
        rows = category_counts(s)
        convs = conversation_counts(s)
        edits = draft_edit_stats(s)
    # "consent": captured examples awaiting their authors' consent.
    header = (
        f"{'category':<24}{'approved':>9}{'pending':>9}{'draft':>7}"
        f"{'rejected':>9}{'consent':>8}{'target':>8}{'gap':>7}"
    )
    print(header)
    print("-" * len(header))
    for c in rows:
        b = c.by_status
        print(
            f"{c.slug:<24}{b['approved']:>9}{b['pending']:>9}{b['draft']:>7}"
            f"{b['rejected']:>9}{b['awaiting_consent']:>8}{c.target:>8}{c.gap:>7}"
        )
    total = sum(sum(c.by_status.values()) for c in rows)
    print("-" * len(header))
    print(f"{'total':<24}{total:>9}")
    if convs:
        print()
        print("conversations (counted above too: one conversation is one example)")
        print(f"{'category':<24}{'approved':>9}{'pending':>9}{'other':>7}{'turns':>9}")
        for slug, cc in convs.items():
            pending = cc.by_status.get("pending", 0)
            other = cc.total - cc.approved - pending
            print(f"{slug:<24}{cc.approved:>9}{pending:>9}{other:>7}{cc.turns:>9}")
        n, turns = sum(c.total for c in convs.values()), sum(c.turns for c in convs.values())
        print(f"{'total':<24}{n:>9} conversations, {turns:,} turns")
    if edits:
        print()
        print(f"{'LLM drafts verified':<24}{'verified':>9}{'unchanged':>10}{'mean edit':>10}")
        for e in edits:
            print(f"{e.slug:<24}{e.verified:>9}{e.unchanged:>10}{e.mean_edit_distance:>10.3f}")
    return 0
