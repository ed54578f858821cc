"""The `crowdtune` command: one entrypoint, subcommands registered by their modules.

Every command module is imported to build the parser, so each keeps its module-level imports
light (argparse, store's models and queries) and imports the heavy libraries (openai,
matplotlib, slack_bolt, pyarrow, alembic…) inside the function that runs the command:
`crowdtune --help` and `crowdtune stats` then start in a fraction of a second.
tests/test_cli_imports.py holds this.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.commands import (
    categories,
    db,
    export,
    generate,
    importing,
    nudge,
    report,
    sandbox,
    scheduler,
    serve,
    stats,
    transform,
)
from bot.config import configure_logging, load_settings
from bot.runtime import Runtime
from store.db import explain_database_error, parse_url, require_existing_file, require_schema
from store.errors import DomainError

COMMAND_MODULES = (
    db,
    importing,
    stats,
    categories,
    serve,
    nudge,
    generate,
    transform,
    export,
    report,
    scheduler,
    sandbox,
)


class UsageError(Exception):
    """A command was called in a way that cannot work; the message says how to fix it."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="crowdtune",
        description="Crowdsource instruction-tuning data from your company's Slack.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _check_database(runtime: Runtime, needs: str) -> None:
    """Before a command runs: refuse URLs we cannot use, and databases never migrated.

    A SQLite file that does not exist is refused before anything connects (connecting
    would create it empty); `db upgrade` and `db revision` are the commands that may.
    """
    url = runtime.settings.database_url
    parse_url(url)
    if needs == "file":
        require_existing_file(url)
    elif needs == "tables":
        require_schema(runtime.engine, url)


def cli_message(exc: BaseException, database_url: str) -> str | None:
    """The one-line message of an ordinary mistake (exit 2), or None for a real bug."""
    if isinstance(exc, SQLAlchemyError) and not isinstance(exc, DomainError):
        exc = explain_database_error(exc, database_url)
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, UsageError):
        return str(exc)
    return None


def _silence_closed_stdout() -> None:
    # `crowdtune categories | head -3`: the reader left. Point stdout at /dev/null so the
    # interpreter's final flush does not print a BrokenPipeError (Python's documented recipe).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; ordinary mistakes become one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"crowdtune: configuration error in {name}: {err['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    runtime = Runtime(settings)
    try:
        _check_database(runtime, getattr(args, "needs_schema", "tables"))
        code = int(args.handler(runtime, args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence_closed_stdout()
        return 1
    except KeyboardInterrupt:
        print("crowdtune: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = cli_message(exc, settings.database_url)
        if message is None:
            raise
        print(f"crowdtune: {message}", file=sys.stderr)
        return 2
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
