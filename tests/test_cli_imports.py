"""The CLI starts without its heavy libraries: building the parser imports every command module,
so each must leave openai, matplotlib, Slack's app, the dataset writers and Alembic to the
function that runs its command (every `crowdtune` the suite and a user start pays the rest)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

HEAVY = ("openai", "matplotlib", "slack_bolt", "datasets", "pyarrow", "alembic")

PROBE = """
import json, sys
import bot.cli
bot.cli.build_parser()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running `code` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(result.stdout))


def test_building_the_parser_imports_no_heavy_library() -> None:
    loaded = loaded_after(PROBE)
    assert "bot" in loaded and "store" in loaded  # the probe really imported the CLI
    assert sorted(loaded.intersection(HEAVY)) == []


def test_the_probe_sees_a_heavy_library_once_a_command_needs_it() -> None:
    # The same probe, after the command module imports what its handler needs: the check above
    # would notice a module-level import of any of them.
    # (`db upgrade`'s runner: the cheapest of them to import.)
    loaded = loaded_after(
        PROBE.replace("bot.cli.build_parser()", "bot.cli.build_parser(); import migrations.runner")
    )
    assert "alembic" in loaded
