"""manifest.yml and the README stay in step with the code."""

from __future__ import annotations

import re

from bot.slack.handlers.commands import COMMAND, SUBCOMMANDS
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
MANIFEST = (REPO_ROOT / "manifest.yml").read_text()


def test_every_slash_subcommand_is_in_the_readme() -> None:
    missing = [s for s in SUBCOMMANDS if f"`{COMMAND} {s}" not in README]
    assert not missing, f"document these /crowdtune subcommands in README.md: {missing}"


def test_manifest_declares_what_the_app_uses_and_nothing_more() -> None:
    assert f"command: {COMMAND}" in MANIFEST
    bot_events = re.search(r"bot_events:\n((?:\s+- .+\n)+)", MANIFEST)
    assert bot_events and re.findall(r"- (\S+)", bot_events.group(1)) == ["app_home_opened"]
    scopes = re.search(r"bot:\n((?:\s+- .+\n)+)", MANIFEST)
    assert scopes is not None
    # commands: /crowdtune; chat:write: chat.postMessage; im:write: conversations.open;
    # users:read: users.info (time zones).
    assert re.findall(r"- (\S+)", scopes.group(1)) == [
        "commands",
        "chat:write",
        "im:write",
        "users:read",
    ]
    assert "is_enabled: true" in MANIFEST  # interactivity
    assert "home_tab_enabled: true" in MANIFEST
    assert MANIFEST.count("url: https://crowdtune.example.com/slack/events") == 3
