"""`crowdtune stats`: counts per category and status, with targets."""

from __future__ import annotations

import argparse
import json

from bot.runtime import Runtime
from store.db import session_scope
from store.stats import category_counts, stats_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `stats` command."""
    p = sub.add_parser("stats", help="counts per category and status, with targets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Print stats as a table or as JSON."""
    with session_scope(rt.sessions) as s:
        if args.json:
            print(json.dumps(stats_json(s), indent=2, sort_keys=False))
            return 0
        rows = category_counts(s)
    header = (
        f"{'category':<24}{'approved':>9}{'pending':>9}{'draft':>7}"
        f"{'rejected':>9}{'target':>8}{'gap':>7}"
    )
    print(header)
    print("-" * len(header))
    for c in rows:
        b = c.by_status
        print(
            f"{c.slug:<24}{b['approved']:>9}{b['pending']:>9}{b['draft']:>7}"
            f"{b['rejected']:>9}{c.target:>8}{c.gap:>7}"
        )
    total = sum(sum(c.by_status.values()) for c in rows)
    print("-" * len(header))
    print(f"{'total':<24}{total:>9}")
    return 0
