"""The `crowdtune` command: one entrypoint, subcommands registered by their modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; domain and configuration errors become a message and exit code 2."""
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
        return int(args.handler(runtime, args) or 0)
    except DomainError as exc:
        print(f"crowdtune: {exc.message}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"crowdtune: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crowdtune: interrupted", file=sys.stderr)
        return 130
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
