"""Admins manage categories in Slack (signed requests, the Web API double); writers use them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.slack.standin.web_api import TEAM_ID
from exporters.run import EmptyExport, run_export
from exporters.spec import ExportSpec
from store.catalogue import guideline_history
from store.categories import get_category, list_categories
from store.enums import ExampleStatus
from store.experts import experts_of, interests_of
from store.models import Example
from tests.export_data import SALT
from tests.factories import person
from tests.slack_fixtures import all_text, blocks_of, button_value, double, slack
from tests.slack_requests import SlackApp, fill, opened_view

__all__ = ["double", "slack"]  # fixtures

GUIDELINE = (
    "Write a question a customer could send our support team, and the answer an experienced "
    "agent would give: friendly, precise, <pointing> to the right help page."
)
QUESTION = "How do I reset my password if I no longer have access to my work email?"
ANSWER = "Ask your admin to change the email on your account, then choose 'Forgot password'."


def _replies(slack: SlackApp) -> list[dict[str, Any]]:
    return [c.args for c in slack.double.calls if c.method.startswith("response_url:")]


def _wait_reply(slack: SlackApp, count: int) -> dict[str, Any]:
    with slack.double._lock:
        slack.double._lock.wait_for(lambda: len(_replies(slack)) >= count, timeout=10)
    replies = _replies(slack)
    assert len(replies) >= count, slack.double.methods()
    return replies[-1]


def _open_list(slack: SlackApp, user: str = "UADMIN") -> dict[str, Any]:
    before = len(slack.double.calls_to("views.open"))
    reply = slack.command(user, "categories")
    assert reply.status == 200 and not reply.body.strip()
    return opened_view(slack.double.wait_for("views.open", before + 1)[-1].args)


def _push(slack: SlackApp, root: dict[str, Any], action: str, value: str = "") -> dict[str, Any]:
    before = len(slack.double.calls_to("views.push"))
    assert slack.click("UADMIN", action, value, view=root).status == 200
    return opened_view(slack.double.wait_for("views.push", before + 1)[-1].args)


def _fill_form(view: dict[str, Any], **typed: Any) -> dict[str, Any]:
    """The form's state as an admin leaves it: typed values over the initial ones."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        bid, el = block["block_id"], block["element"]
        if el["type"] == "plain_text_input":
            value = typed.get(bid, el.get("initial_value"))
            values[bid] = {bid: {"type": "plain_text_input", "value": value}}
        elif el["type"] == "checkboxes":
            chosen = [o["value"] for o in el.get("initial_options", [])]
            chosen = typed.get(bid, chosen)
            opts = [o for o in el["options"] if o["value"] in chosen]
            values[bid] = {bid: {"type": "checkboxes", "selected_options": opts}}
        elif el["type"] == "multi_users_select":
            users = typed.get(bid, el.get("initial_users", []))
            values[bid] = {bid: {"type": "multi_users_select", "selected_users": users}}
    return {**view, "state": {"values": values}}


def _new_support_category(slack: SlackApp, **overrides: Any) -> tuple[dict[str, Any], Any]:
    root = _open_list(slack)
    form = _push(slack, root, "category_new")
    typed = {
        "slug": "customer_support",
        "name": "Customer support",
        "guideline": GUIDELINE,
        "target": "300",
        "min_response": "30",
        "domain": "Support",
        "experts": ["UEXP1"],
        "expert_group": "S0SUPPORT",
        "options": ["active"],
        **overrides,
    }
    return root, slack.submit("UADMIN", _fill_form(form, **typed))


def _write(slack: SlackApp, user: str, text: str) -> dict[str, Any]:
    before = len(slack.double.calls_to("views.open"))
    assert slack.command(user, text).status == 200
    return opened_view(slack.double.wait_for("views.open", before + 1)[-1].args)


def _export(slack: SlackApp, tmp: Path, name: str, categories: tuple[str, ...] = ()) -> set[str]:
    spec = ExportSpec(salt=SALT, formats=("dolly",), test_size=0, categories=categories)
    run_export(slack.db.sessions, tmp / name, spec)
    rows = (tmp / name / "dolly" / "train.jsonl").read_text().splitlines()
    return {json.loads(r)["category"] for r in rows}


def test_admin_adds_a_category_people_write_review_and_export_it_then_retire_it(
    slack: SlackApp, tmp_path: Path
) -> None:
    slack.double.add_usergroup("S0SUPPORT", ["UEXP2"])
    root = _open_list(slack)
    assert root["title"]["text"] == "Categories"
    assert "Open QA" in all_text(root["blocks"]) and "New category" in all_text(root["blocks"])

    # New → the form; the preview shows the guideline as writers will see it (escaped).
    form = _push(slack, root, "category_new")
    assert [b["block_id"] for b in form["blocks"] if b.get("type") == "input"][:3] == [
        "slug",
        "name",
        "guideline",
    ]
    guideline_input = next(b for b in form["blocks"] if b.get("block_id") == "guideline")
    assert guideline_input["element"]["multiline"] is True
    typed = _fill_form(form, guideline=GUIDELINE, name="Customer support")
    assert slack.click("UADMIN", "category_preview", "", view=typed).status == 200
    update = slack.double.wait_for("views.update")[-1]
    assert update.args["view_id"] == typed["id"]
    preview = next(
        b for b in opened_view(update.args)["blocks"] if b.get("block_id") == "guideline_preview"
    )
    assert "&lt;pointing&gt;" in preview["text"]["text"] and "Preview" in preview["text"]["text"]

    _, reply = _new_support_category(slack)
    assert reply.status == 200 and not reply.body.strip()  # the form closes
    refreshed = slack.double.wait_for("views.update", 2)[-1]
    assert "Customer support" in all_text(opened_view(refreshed.args)["blocks"])
    with slack.db.session() as s:
        cat = get_category(s, "customer_support")
        assert (cat.target, cat.min_response_chars, cat.domain, cat.active) == (
            300,
            30,
            "Support",
            True,
        )
        assert experts_of(s, cat.id) == {"UEXP1", "UEXP2"}
        assert guideline_history(s, "customer_support")[0].changed_by == "UADMIN"

    # A writer picks it; the modal shows its guideline; the example records version 1.
    view = _write(slack, "UALICE", "write customer_support")
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "customer_support"
    assert "friendly, precise" in all_text(view["blocks"])
    posts = len(slack.double.calls_to("chat.postMessage"))
    reply = slack.submit("UALICE", fill(view, instruction=QUESTION, response=ANSWER))
    assert reply.status == 200 and not reply.body.strip()
    slack.double.wait_for("chat.postMessage", posts + 1)
    with slack.db.session() as s:
        ex = s.scalars(select(Example)).one()
        assert (ex.category.slug, ex.guideline_version) == ("customer_support", 1)
        example_id = ex.id

    # Two colleagues review it; it is approved and exported.
    for reviewer in ("UBOB", "UCAROL"):
        count = len(_replies(slack))
        slack.command(reviewer, "review")
        blocks = blocks_of(_wait_reply(slack, count + 1))
        assert QUESTION in all_text(blocks)
        slack.click(reviewer, "review_approve", button_value(blocks, "review_approve"))
        _wait_reply(slack, count + 2)
    with slack.db.session() as s:
        assert s.get(Example, example_id).status == ExampleStatus.APPROVED  # type: ignore[union-attr]
    assert "customer_support" in _export(slack, tmp_path, "before")

    # Retire it from the modal: Edit → untick Active → Save.
    form = _push(slack, root, "category_edit", "customer_support")
    assert form["title"]["text"] == "Edit category"
    assert slack.submit("UADMIN", _fill_form(form, options=[])).status == 200
    with slack.db.session() as s:
        assert not get_category(s, "customer_support").active
    view = _write(slack, "UALICE", "write")
    options = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert "customer_support" not in options and "open_qa" in options
    # Only the retired category has examples: the default export (active ones) has none.
    with pytest.raises(EmptyExport, match="--categories every active category"):
        _export(slack, tmp_path, "default")
    assert _export(slack, tmp_path, "named", ("customer_support",)) == {"customer_support"}
    manifest = json.loads((tmp_path / "named" / "manifest.json").read_text())
    assert manifest["guideline_versions"] == {"customer_support": [1]}


def test_guideline_edits_in_the_modal_are_versions_and_examples_keep_theirs(
    slack: SlackApp,
) -> None:
    slack.double.add_usergroup("S0SUPPORT", [])
    root, reply = _new_support_category(slack)
    assert not reply.body.strip()
    view = _write(slack, "UALICE", "write customer_support")
    slack.submit("UALICE", fill(view, instruction=QUESTION, response=ANSWER))
    form = _push(slack, root, "category_edit", "customer_support")
    guideline = next(b for b in form["blocks"] if b.get("block_id") == "guideline")
    assert guideline["element"]["initial_value"] == GUIDELINE
    new_text = GUIDELINE + " Never promise a refund."
    assert not slack.submit("UADMIN", _fill_form(form, guideline=new_text)).body.strip()
    view = _write(slack, "UBOB", "write customer_support")
    assert "Never promise a refund." in all_text(view["blocks"])
    slack.submit(
        "UBOB",
        fill(view, instruction="Can I get my money back for an unused seat?", response=ANSWER),
    )
    with slack.db.session() as s:
        versions = [(g.version, g.text) for g in guideline_history(s, "customer_support")]
        assert versions == [(1, GUIDELINE), (2, new_text)]
        by_author = {
            e.author.slack_user_id: e.guideline_version  # type: ignore[union-attr]
            for e in s.scalars(select(Example))
        }
    assert by_author == {"UALICE": 1, "UBOB": 2}


def test_invalid_forms_come_back_with_errors_and_change_nothing(slack: SlackApp) -> None:
    slack.double.add_usergroup("S0SUPPORT", ["UEXP2"])
    cases = [
        ({"slug": "Customer Support"}, "slug", "not a valid slug"),
        ({"slug": "open_qa"}, "slug", "already exists"),
        ({"name": "open qa"}, "name", "already used"),
        ({"guideline": " "}, "guideline", "empty"),
        ({"target": "-1"}, "target", "zero or more"),
        ({"target": "lots"}, "target", "whole number"),
        ({"expert_group": "S0NOSUCH"}, "expert_group", "no user group S0NOSUCH"),
    ]
    for typed, block, words in cases:
        _, reply = _new_support_category(slack, **typed)
        body = reply.json()
        assert body["response_action"] == "errors", typed
        assert words in body["errors"][block], (typed, body)
    with slack.db.session() as s:
        assert "customer_support" not in [c.slug for c in list_categories(s)]


def test_non_admins_are_refused_politely(slack: SlackApp) -> None:
    assert slack.command("UBOB", "categories").status == 200
    reply = _wait_reply(slack, 1)
    assert "for crowdtune admins" in reply["text"]
    assert not slack.double.calls_to("views.open")
    # A forged click or submission from a non-admin changes nothing either.
    fake_root = {"id": "VFAKE", "type": "modal", "blocks": []}
    assert slack.click("UBOB", "category_edit", "open_qa", view=fake_root).status == 200
    dm = slack.double.wait_for("chat.postMessage")[-1]  # no response_url in a modal: a DM
    assert dm.args["channel"] == "UBOB" and "for crowdtune admins" in dm.args["text"]
    assert not slack.double.calls_to("views.push")
    form = {
        "id": "VFORM",
        "type": "modal",
        "callback_id": "category_save",
        "private_metadata": json.dumps({"slug": "open_qa"}),
        "blocks": [{"type": "input", "block_id": "name", "element": {"type": "plain_text_input"}}],
        "state": {"values": {"name": {"name": {"value": "Hijacked"}}}},
    }
    body = slack.submit("UBOB", form).json()
    assert "for crowdtune admins" in body["errors"]["name"]
    with slack.db.session() as s:
        assert get_category(s, "open_qa").name == "Open QA"


def test_app_home_interests_are_stored_and_shape_the_suggestion(slack: SlackApp) -> None:
    slack.double.add_usergroup("S0SUPPORT", [])
    _new_support_category(slack, experts=["UEXP1"])
    slack.event({"type": "app_home_opened", "user": "UBOB", "tab": "home"})
    home = opened_view(slack.double.wait_for("views.publish")[-1].args)
    picker = next(b for b in home["blocks"] if b.get("block_id") == "interests")["accessory"]
    assert "customer_support" in [o["value"] for o in picker["options"]]
    assert "initial_options" not in picker

    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": "UBOB", "team_id": TEAM_ID},
        "api_app_id": "A0CROWD",
        "trigger_id": "trig-interests",
        "container": {"type": "view", "view_id": home["id"]},
        "view": home,
        "actions": [
            {
                "type": "multi_static_select",
                "action_id": "home_interests",
                "block_id": "interests",
                "selected_options": [{"value": "brainstorming"}],
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    reply = slack.interact(payload)
    assert reply.status == 200
    with slack.db.session() as s:
        bob = person(s, "UBOB")
        assert interests_of(s, bob) == {get_category(s, "brainstorming").id}
        # Brainstorming's gap (1500) doubled beats open QA's; the expert gets their domain.
        get_category(s, "open_qa").target = 2500
    assert _write(slack, "UBOB", "write")["blocks"][0]["element"]["initial_option"]["value"] == (
        "brainstorming"
    )
    slack.event({"type": "app_home_opened", "user": "UBOB", "tab": "home"})
    home = opened_view(slack.double.wait_for("views.publish", 2)[-1].args)
    picker = next(b for b in home["blocks"] if b.get("block_id") == "interests")["accessory"]
    assert [o["value"] for o in picker["initial_options"]] == ["brainstorming"]
    view = _write(slack, "UEXP1", "write")
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "customer_support"
