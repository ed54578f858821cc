"""`crowdtune categories add/edit/retire/reactivate/show` end to end, with Slack's user groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.slack.standin.web_api import VALID_TOKEN, SlackDouble
from store.categories import get_category, list_categories
from store.enums import ExampleStatus
from store.experts import experts_of
from store.models import Category, CategoryExpert, CategoryGuideline, Example
from tests.dbs import TestDatabase
from tests.export_data import SALT
from tests.factories import example, person

GUIDELINE = (
    "Write a question a customer could send our support team, and the answer an experienced "
    "agent would give: friendly, precise, and pointing to the right help page.\n"
)


@pytest.fixture(scope="module")
def double() -> Iterator[SlackDouble]:
    with SlackDouble() as d:
        yield d


@pytest.fixture
def env(
    db: TestDatabase, double: SlackDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    double.reset()
    double.add_usergroup("S0SUPPORT", ["UGROUP1", "UGROUP2"])
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", VALID_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", double.api_url)
    monkeypatch.setenv("CROWDTUNE_PSEUDONYM_SALT", SALT)
    (tmp_path / "guideline.md").write_text(GUIDELINE, encoding="utf-8")
    return tmp_path


ADD = [
    "categories",
    "add",
    "customer_support",
    "--name",
    "Customer support",
    "--guideline-file",
    "guideline.md",
    "--no-context",
    "--target",
    "300",
    "--min-response",
    "30",
    "--domain",
    "Support",
    "--experts",
    "UEXP1,UEXP2",
    "--expert-group",
    "S0SUPPORT",
    "--expert-sign-off",
]


def _state(db: TestDatabase) -> tuple[int, int, int, list[tuple[str, str, int, bool]]]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Category)) or 0,
            s.scalar(select(func.count()).select_from(CategoryGuideline)) or 0,
            s.scalar(select(func.count()).select_from(CategoryExpert)) or 0,
            [(c.slug, c.name, c.target, c.active) for c in list_categories(s)],
        )


def test_add_edit_show_retire_reactivate(
    db: TestDatabase, env: Path, double: SlackDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(ADD) == 0
    out = capsys.readouterr().out
    assert "added customer_support (Customer support): active, target 300, guideline v1" in out
    assert "4 expert(s), expert sign-off" in out
    assert double.last("usergroups.users.list").args["usergroup"] == "S0SUPPORT"
    with db.session() as s:
        cat = get_category(s, "customer_support")
        assert (cat.needs_context, cat.min_response_chars, cat.domain) == (False, 30, "Support")
        assert cat.guideline == GUIDELINE.strip()
        assert experts_of(s, cat.id) == {"UEXP1", "UEXP2", "UGROUP1", "UGROUP2"}

    # The group changed in Slack: an edit of the experts reads it again; named ones stay.
    double.add_usergroup("S0SUPPORT", ["UGROUP2", "UGROUP3"])
    (env / "v2.md").write_text(GUIDELINE + "Never promise a refund.", encoding="utf-8")
    argv = ["categories", "edit", "customer_support", "--guideline-file", "v2.md"]
    assert main([*argv, "--expert-group", "S0SUPPORT", "--target", "350"]) == 0
    assert "guideline v2" in capsys.readouterr().out
    with db.session() as s:
        cat = get_category(s, "customer_support")
        assert experts_of(s, cat.id) == {"UEXP1", "UEXP2", "UGROUP2", "UGROUP3"}
        assert cat.target == 350

    assert main(["categories", "show", "customer_support"]) == 0
    shown = capsys.readouterr().out
    assert "--- guideline v1" in shown and "--- guideline v2" in shown
    assert "Never promise a refund." in shown and "user group S0SUPPORT" in shown

    assert main(["categories", "retire", "customer_support"]) == 0
    assert "export --categories customer_support" in capsys.readouterr().out
    assert main(["categories", "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "customer_support" in x)
    assert line.split()[-1] == "no"
    assert main(["categories", "reactivate", "customer_support"]) == 0
    with db.session() as s:
        assert get_category(s, "customer_support").active


def test_a_retired_category_is_exported_only_when_named(
    db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(ADD[:-7]) == 0  # no experts, no sign-off
    with db.session() as s:
        writer = person(s, "UALICE")
        for question in (
            "My invoice shows the wrong address; how can I fix it?",
            "Can I move my subscription to another team without losing data?",
            "Why was my card declined when it works everywhere else?",
        ):
            example(
                s,
                writer,
                category="customer_support",
                status=ExampleStatus.APPROVED,
                instruction=question,
                response="Open Billing in the settings and follow the help page linked there.",
            )
        example(s, writer, category="open_qa", status=ExampleStatus.APPROVED)
    assert main(["categories", "retire", "customer_support"]) == 0
    common = ["export", "--format", "dolly", "--test-size", "0"]
    assert main([*common, "--out", "all"]) == 0
    assert main([*common, "--out", "named", "--categories", "customer_support,open_qa"]) == 0
    capsys.readouterr()

    def categories_in(folder: str) -> dict[str, int]:
        rows = (env / folder / "dolly" / "train.jsonl").read_text().splitlines()
        out: dict[str, int] = {}
        for r in rows:
            cat = json.loads(r)["category"]
            out[cat] = out.get(cat, 0) + 1
        return out

    assert categories_in("all") == {"open_qa": 1}
    assert categories_in("named") == {"customer_support": 3, "open_qa": 1}
    manifest = json.loads((env / "named" / "manifest.json").read_text())
    assert manifest["guideline_versions"] == {"customer_support": [1], "open_qa": [1]}
    assert manifest["spec"]["categories"] == ["customer_support", "open_qa"]
    card = (env / "named" / "README.md").read_text()
    assert "## Guidelines" in card and "- customer_support: v1" in card
    assert "| customer_support | 3 |" in card
    assert main([*common, "--out", "bad", "--categories", "nope"]) == 2
    assert "--categories: unknown nope" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({2: "Customer-Support"}, "not a valid slug"),
        ({2: "open_qa"}, "a category 'open_qa' already exists"),
        ({4: "Open QA"}, "the name 'Open QA' is already used by category 'open_qa'"),
        ({6: "empty.md"}, "the guideline is empty"),
        ({6: "missing.md"}, "missing.md: no such file"),
        ({9: "-5"}, "the target must be zero or more"),
        ({17: "S0NOSUCH"}, "Slack knows no user group S0NOSUCH"),
        ({15: "alice"}, "not Slack user ids: alice"),
    ],
)
def test_invalid_input_exits_2_with_one_line_and_changes_nothing(
    db: TestDatabase,
    env: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[int, str],
    message: str,
) -> None:
    (env / "empty.md").write_text("  \n", encoding="utf-8")
    before = _state(db)
    argv = list(ADD)
    for i, value in change.items():
        argv[i] = value
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert _state(db) == before


def test_edit_of_an_unknown_category_names_the_known_ones(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["categories", "edit", "nope", "--target", "3"]) == 2
    assert "unknown category 'nope'; known categories: open_qa" in capsys.readouterr().err
    assert main(["categories", "retire", "nope"]) == 2


def test_a_bad_edit_keeps_the_guideline(db: TestDatabase, env: Path) -> None:
    assert main(ADD) == 0
    (env / "empty.md").write_text("", encoding="utf-8")
    before = _state(db)
    argv = ["categories", "edit", "customer_support", "--guideline-file", "empty.md"]
    assert main([*argv, "--target", "5"]) == 2
    assert _state(db) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Example)) == 0
