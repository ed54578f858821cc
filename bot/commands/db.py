"""`crowdtune db …`: apply and inspect migrations."""

from __future__ import annotations

import argparse

from bot.runtime import Runtime
from migrations import runner
from store.categories import seed_default_categories
from store.db import session_scope


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `db` command group."""
    p = sub.add_parser("db", help="database migrations")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations and seed default categories")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=upgrade)
    down = dbsub.add_parser("downgrade", help="revert migrations (to `base` drops everything)")
    down.add_argument("revision")
    down.set_defaults(handler=downgrade)
    cur = dbsub.add_parser("current", help="show the database's revision")
    cur.set_defaults(handler=current)
    rev = dbsub.add_parser("revision", help="write a new revision from model changes")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(handler=revision)


def upgrade(rt: Runtime, args: argparse.Namespace) -> int:
    """Migrate to head and make sure the default categories exist."""
    runner.upgrade(rt.settings.database_url, args.revision)
    with session_scope(rt.sessions) as s:
        added = seed_default_categories(s)
    print(f"database is at {args.revision}; {added} default categories added")
    if args.revision == "head":
        held = rt.write_dedup_snapshot()
        if held is not None:
            print(f"near-duplicate index snapshot: {held} examples in {rt.settings.dedup_snapshot}")
    return 0


def downgrade(rt: Runtime, args: argparse.Namespace) -> int:
    """Revert to a revision."""
    runner.downgrade(rt.settings.database_url, args.revision)
    return 0


def current(rt: Runtime, args: argparse.Namespace) -> int:
    """Print the current revision."""
    runner.current(rt.settings.database_url)
    return 0


def revision(rt: Runtime, args: argparse.Namespace) -> int:
    """Autogenerate a revision against DATABASE_URL."""
    runner.revision(rt.settings.database_url, args.message)
    return 0
