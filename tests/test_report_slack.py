"""`/crowdtune report` in Slack (signed requests): admins get a summary and a chart posted."""

from __future__ import annotations

from typing import Any

from bot.slack.standin.web_api import SlackDouble
from tests.slack_fixtures import double, slack
from tests.slack_requests import SlackApp
from tests.test_report_sourcing import _fixture

__all__ = ["double", "slack"]  # fixtures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _wait_reply(d: SlackDouble) -> dict[str, Any]:
    with d._lock:
        ok = d._lock.wait_for(
            lambda: any(c.method.startswith("response_url:") for c in d.calls), timeout=20
        )
    assert ok, d.methods()
    return [c for c in d.calls if c.method.startswith("response_url:")][-1].args


def test_admin_report_posts_summary_and_chart_in_the_channel(slack: SlackApp) -> None:
    _fixture(slack.db)
    assert slack.command("UADMIN", "report").status == 200
    done = slack.double.wait_for("files.completeUploadExternal", timeout=60)[-1]
    assert done.args["channel_id"] == "C0GENERAL"  # where the command was typed
    text = done.args["initial_comment"]
    assert "*crowdtune quality report*" in text and "*Reviewer agreement*: verdicts" in text
    assert "• human: 2 accepted of 3 (67% approved), 5.0 person-min per accepted" in text
    assert "• transformed: 1 accepted of 2 (100% approved), time not recorded" in text
    assert "0.00225 per accepted in LLM cost" not in text  # no prices configured here
    (file_id,) = [f for f in slack.double.uploads if slack.double.uploads[f]]
    assert slack.double.uploads[file_id].startswith(PNG_MAGIC)


def test_report_is_for_admins_only(slack: SlackApp) -> None:
    assert slack.command("UBOB", "report").status == 200
    reply = _wait_reply(slack.double)
    assert "for crowdtune admins" in str(reply["text"])
    assert not slack.double.calls_to("files.getUploadURLExternal")


def test_a_channel_the_bot_is_not_in_still_gets_the_summary(slack: SlackApp) -> None:
    slack.double.fail("files.completeUploadExternal", "not_in_channel")
    assert slack.command("UADMIN", "report").status == 200
    reply = _wait_reply(slack.double)
    assert "*crowdtune quality report*" in str(reply["text"])
    assert "Could not post the chart here: not_in_channel" in str(reply["text"])
