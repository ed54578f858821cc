"""Pytest fixtures and small readers shared by the Slack app tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack.standin.web_api import SlackDouble
from tests.dbs import TestDatabase
from tests.slack_requests import SlackApp, settings_for


@pytest.fixture(scope="module")
def double() -> Iterator[SlackDouble]:
    """One Slack Web API double per module, reset per test."""
    with SlackDouble() as d:
        yield d


@pytest.fixture
def slack(db: TestDatabase, double: SlackDouble) -> Iterator[SlackApp]:
    """The app served locally against `double` and the test database; UADMIN is an admin."""
    double.reset()
    app = SlackApp(db, double, settings_for(db.url, double, admin_user_ids="UADMIN"))
    try:
        yield app
    finally:
        app.close()


def blocks_of(call_args: dict[str, Any]) -> list[dict[str, Any]]:
    """The blocks of a recorded message (JSON string or list)."""
    blocks = call_args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def button_value(blocks: list[dict[str, Any]], action_id: str) -> str:
    """The value of the button with `action_id` in these blocks."""
    for block in blocks:
        for el in block.get("elements", []) or []:
            if el.get("action_id") == action_id:
                return str(el["value"])
    raise AssertionError(f"no {action_id} button in {json.dumps(blocks)[:500]}")


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every mrkdwn/plain text in the blocks, joined."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(blocks)
    return "\n".join(out)
