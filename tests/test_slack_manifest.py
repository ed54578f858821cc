"""manifest.yml and the README stay in step with the code."""

from __future__ import annotations

import re

from bot.slack.handlers.capture import SHORTCUT
from bot.slack.handlers.commands import COMMAND, SUBCOMMANDS
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
MANIFEST = (REPO_ROOT / "manifest.yml").read_text()


def test_every_slash_subcommand_is_in_the_readme() -> None:
    missing = [s for s in SUBCOMMANDS if f"`{COMMAND} {s}" not in README]
    assert not missing, f"document these /crowdtune subcommands in README.md: {missing}"


# The bot scope each Web API method needs (api.slack.com/methods); None: no scope needed.
METHOD_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",  # a consent request's DM once it expired
    "chat_getPermalink": None,
    "conversations_info": "channels:read",
    "conversations_replies": "channels:history",
    "conversations_open": "im:write",
    "users_info": "users:read",
    "files_upload_v2": "files:write",  # files.getUploadURLExternal + completeUploadExternal
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "views_push": None,
    "usergroups_users_list": "usergroups:read",
    "auth_test": None,
}


def scopes_the_code_needs() -> set[str]:
    """Scopes of every WebClient method called anywhere under bot/."""
    called: set[str] = set()
    for path in (REPO_ROOT / "bot").rglob("*.py"):
        called |= set(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(", path.read_text()))
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add the scope of {sorted(unknown)} to METHOD_SCOPES (and manifest.yml)"
    return {scope for m in called if (scope := METHOD_SCOPES[m]) is not None}


def test_manifest_declares_what_the_app_uses_and_nothing_more() -> None:
    assert f"command: {COMMAND}" in MANIFEST
    bot_events = re.search(r"bot_events:\n((?:\s+- .+\n)+)", MANIFEST)
    assert bot_events and re.findall(r"- (\S+)", bot_events.group(1)) == ["app_home_opened"]
    scopes = re.search(r"bot:\n((?:\s+- .+\n)+)", MANIFEST)
    assert scopes is not None
    declared = re.findall(r"- (\S+)", scopes.group(1))
    assert declared == sorted(set(declared), key=declared.index), "a scope is listed twice"
    assert set(declared) == {"commands"} | scopes_the_code_needs()
    assert "is_enabled: true" in MANIFEST  # interactivity
    assert "home_tab_enabled: true" in MANIFEST
    assert MANIFEST.count("url: https://crowdtune.example.com/slack/events") == 3


def test_manifest_declares_the_message_shortcut_the_app_listens_to() -> None:
    shortcuts = re.search(r"shortcuts:\n((?:\s{4,}.+\n)+)", MANIFEST)
    assert shortcuts is not None
    block = shortcuts.group(1)
    assert "type: message" in block
    assert f"callback_id: {SHORTCUT}\n" in block
    name = re.search(r"name: (.+)", block)
    assert name and name.group(1) == "Save as training example"
    assert len(name.group(1)) <= 24  # Slack's limit for a shortcut's name


def test_readme_names_every_scope_of_the_manifest() -> None:
    scopes = re.search(r"bot:\n((?:\s+- .+\n)+)", MANIFEST)
    assert scopes is not None
    section = README.split("### Capture and consent", 1)[1].split("\n## ", 1)[0]
    for scope in ("channels:history", "channels:read", "commands", "chat:write", "users:read"):
        assert f"`{scope}`" in section, scope
