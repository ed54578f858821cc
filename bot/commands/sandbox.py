"""`crowdtune sandbox`: the whole bot in a browser, against a local stand-in of Slack."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING

from bot.runtime import Runtime
from bot.sandbox.people import MAX_PEOPLE, employees
from bot.sandbox.servers import LOCAL
from store.categories import seed_default_categories
from store.db import session_scope

if TYPE_CHECKING:
    from types import FrameType

SANDBOX_DB = "sqlite:///crowdtune-sandbox.db"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `sandbox` command."""
    p = sub.add_parser(
        "sandbox",
        help="try the bot in a browser: the real app against a local Slack stand-in, no tokens",
    )
    p.add_argument("--port", type=int, default=3000, help="the page's port (default 3000)")
    p.add_argument(
        "--host",
        default=LOCAL,
        help="address to bind the page to (default 127.0.0.1: only this machine)",
    )
    p.add_argument(
        "--people",
        type=int,
        default=4,
        help=f"made-up employees to play (1 to {MAX_PEOPLE}, default 4)",
    )
    p.add_argument(
        "--demo", action="store_true", help="add demo examples and reviewers (fictional)"
    )
    p.add_argument(
        "--database-url",
        help=f"database to use instead of {SANDBOX_DB} (the sandbox never uses DATABASE_URL)",
    )
    p.set_defaults(handler=run, needs_schema="none")  # it migrates its own database


def database_url(rt: Runtime, explicit: str | None) -> str:
    """The sandbox's database: --database-url, else its own file; DATABASE_URL is refused.

    A demo writes made-up people and examples; pointed at production data by an inherited
    DATABASE_URL, it would mix them in. Only an explicit --database-url overrides.
    """
    from bot.cli import UsageError  # the CLI's error type; imported late to avoid a cycle

    if explicit:
        return explicit
    inherited = rt.settings.database_url
    if "database_url" in rt.settings.model_fields_set and inherited != SANDBOX_DB:
        raise UsageError(
            f"DATABASE_URL is set ({_hide_password(inherited)}); the sandbox writes made-up "
            f"data and uses its own file ({SANDBOX_DB}). Unset DATABASE_URL, or pass "
            "--database-url explicitly if you really mean that database."
        )
    return SANDBOX_DB


def _hide_password(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """Migrate the sandbox's database, seed it, serve until Ctrl-C or SIGTERM."""
    from bot.cli import UsageError
    from bot.sandbox.app import Sandbox  # the app, the stand-in and alembic: only when run
    from bot.sandbox.demo import seed_demo
    from migrations import runner

    try:
        people = employees(args.people)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    url = database_url(rt, args.database_url)
    settings = rt.settings.model_copy(update={"database_url": url})
    runner.upgrade(url, "head")
    box = Sandbox(settings, people, host=args.host, port=args.port)
    seeded = Runtime(settings)
    try:
        with session_scope(seeded.sessions) as s:
            seed_default_categories(s)
            added = seed_demo(s, seeded.quorum) if args.demo else 0
    finally:
        seeded.close()
    try:
        box.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    stop = threading.Event()

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    where = "only this machine can open it" if args.host == LOCAL else "reachable from others"
    print(f"crowdtune sandbox: open {box.url}  (bound to {args.host}: {where})", flush=True)
    print(
        f"database {url}; {len(people)} made-up people"
        + (f"; {added} demo examples added" if added else "")
        + "; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()
    return 0
