"""The README stays true: its test command is what CI runs, and every command is documented."""

from __future__ import annotations

import argparse

from bot.cli import build_parser
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    command = next(line for line in ci if line.startswith("python3 -m venv"))
    assert command in README


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "crowdtune") -> list[str]:
    names: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                names.append(f"{prefix} {name}")
                names.extend(_subcommands(sub, f"{prefix} {name}"))
    return names


def test_every_cli_command_is_in_the_readme() -> None:
    missing = [c for c in _subcommands(build_parser()) if f"`{c}" not in README]
    assert not missing, f"document these in README.md: {missing}"
