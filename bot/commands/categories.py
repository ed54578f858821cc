"""`crowdtune categories`: list categories and set their targets."""

from __future__ import annotations

import argparse

from bot.runtime import Runtime
from store.categories import set_target
from store.db import session_scope
from store.stats import category_counts


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `categories` command group."""
    p = sub.add_parser("categories", help="list categories, set targets")
    p.set_defaults(handler=list_cmd)
    csub = p.add_subparsers(dest="categories_command", metavar="ACTION")
    ls = csub.add_parser("list", help="list categories with targets and progress")
    ls.set_defaults(handler=list_cmd)
    st = csub.add_parser("set-target", help="set a category's target count")
    st.add_argument("slug")
    st.add_argument("target", type=int)
    st.set_defaults(handler=set_target_cmd)


def list_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Print each category with context rule, target and progress."""
    with session_scope(rt.sessions) as s:
        rows = category_counts(s)
    print(f"{'slug':<24}{'name':<24}{'context':>8}{'approved':>9}{'target':>8}{'active':>7}")
    for c in rows:
        ctx = "yes" if c.needs_context else "-"
        active = "yes" if c.active else "no"
        print(f"{c.slug:<24}{c.name:<24}{ctx:>8}{c.approved:>9}{c.target:>8}{active:>7}")
    return 0


def set_target_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Set one category's target."""
    with session_scope(rt.sessions) as s:
        cat = set_target(s, args.slug, args.target)
        print(f"{cat.slug}: target set to {cat.target}")
    return 0
