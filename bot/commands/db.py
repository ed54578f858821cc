"""`crowdtune db …`: apply and inspect migrations."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sqlalchemy import inspect

from bot.plurals import counted
from store.app_settings import ensure_stored_salt
from store.categories import seed_default_categories
from store.db import masked_url, session_scope
from store.models import AppSetting

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `db` command group."""
    p = sub.add_parser("db", help="database migrations")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations and seed default categories")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=upgrade)
    # `db upgrade` and `db revision` may create a SQLite file; the others never do.
    up.set_defaults(needs_schema="none")
    down = dbsub.add_parser("downgrade", help="revert migrations (to `base` drops everything)")
    down.add_argument("revision")
    down.add_argument(
        "--yes", action="store_true", help="do not ask before dropping every table (base)"
    )
    down.set_defaults(handler=downgrade, needs_schema="file")
    cur = dbsub.add_parser("current", help="show the database's revision")
    cur.set_defaults(handler=current, needs_schema="file")
    rev = dbsub.add_parser("revision", help="write a new revision from model changes")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(handler=revision, needs_schema="none")


def upgrade(rt: Runtime, args: argparse.Namespace) -> int:
    """Migrate to head and make sure the default categories exist."""
    from migrations import runner  # alembic: loaded by the commands that use it (bot/cli.py)

    url = rt.settings.database_url
    before = runner.revision_of(rt.engine)
    runner.upgrade(url, args.revision)
    after = runner.revision_of(rt.engine)
    # An older revision asked for by name may not have the settings table yet.
    keeps_salt = inspect(rt.engine).has_table(AppSetting.__tablename__)
    with session_scope(rt.sessions) as s:
        added = seed_default_categories(s)
        new_salt = keeps_salt and rt.settings.pseudonym_salt is None and ensure_stored_salt(s)
    steps = runner.revisions_between(url, before, after)
    moved = _moved(steps, "applied", after)
    if not steps and args.revision not in ("head", after):  # Alembic's upgrade never goes back
        moved += f", past {args.revision} ('crowdtune db downgrade {args.revision}' goes back)"
    print(f"{moved}; {counted(added, 'default category', 'default categories')} added")
    if new_salt:
        print(
            "generated a pseudonym salt for exports and kept it in the database "
            "(CROWDTUNE_PSEUDONYM_SALT overrides it)"
        )
    if args.revision == "head":
        held = rt.write_dedup_snapshot()
        if held is not None:
            print(f"near-duplicate index snapshot: {held} examples in {rt.settings.dedup_snapshot}")
    return 0


def confirmed(question: str) -> bool:
    """Ask a yes/no question on the terminal; False when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def downgrade(rt: Runtime, args: argparse.Namespace) -> int:
    """Revert to a revision; to `base` (every table dropped) only when confirmed or --yes."""
    if args.revision == "base" and not args.yes:
        where = masked_url(rt.settings.database_url)
        if not sys.stdin.isatty():
            print(
                f"crowdtune: 'db downgrade base' drops every table of {where} and all its "
                "data; run it on a terminal to confirm, or add --yes",
                file=sys.stderr,
            )
            return 2
        if not confirmed(f"drop every table of {where}, with all examples and reviews?"):
            print("crowdtune: nothing was changed", file=sys.stderr)
            return 1
    from migrations import runner

    url = rt.settings.database_url
    before = runner.revision_of(rt.engine)
    runner.downgrade(url, args.revision)
    after = runner.revision_of(rt.engine)
    print(_moved(runner.revisions_between(url, after, before)[::-1], "reverted", after))
    return 0


def _moved(steps: list[str], verb: str, now: str | None) -> str:
    """'applied 3 migrations (0010 … 0014); the database is at 0014', or 'already at'."""
    where = now or "base (no crowdtune tables)"
    if not steps:
        return f"the database is already at {where}"
    span = steps[0] if len(steps) == 1 else f"{steps[0]} … {steps[-1]}"
    return f"{verb} {counted(len(steps), 'migration')} ({span}); the database is at {where}"


def current(rt: Runtime, args: argparse.Namespace) -> int:
    """Print the current revision."""
    from migrations import runner

    runner.current(rt.settings.database_url)
    return 0


def revision(rt: Runtime, args: argparse.Namespace) -> int:
    """Autogenerate a revision against DATABASE_URL."""
    from migrations import runner

    if not runner.revision(rt.settings.database_url, args.message):
        print("no model changes: no revision written")
    return 0
