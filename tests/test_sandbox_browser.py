"""The sandbox in a real browser: three employees write, review and approve one example.

Chromium (Debian's) plays Ada, Ben and Camila through the page; every click becomes the
signed request Slack would send to the real app, whose Web API calls land in the stand-in.
Screenshots of the modal, a review DM and App Home are saved in the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox.app import Sandbox
from bot.sandbox.people import employees
from store.enums import ExampleStatus
from store.models import Example
from tests.browser import chromium, person_page
from tests.conftest import REPO_ROOT
from tests.dbs import TestDatabase

pytestmark = pytest.mark.slow
WAIT_MS = 20_000  # bounds a broken run on a loaded machine; a passing run never waits for it

INSTRUCTION = "Hi <!channel>, why do kites need a tail?"
RESPONSE = (
    "A tail adds drag low on the kite, which keeps its nose into the wind and stops it "
    "from spinning."
)


@pytest.fixture
def sandbox(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The sandbox on the test database, its page on a free port of 127.0.0.1."""
    monkeypatch.chdir(tmp_path)  # a PostgreSQL sandbox exports into the working folder
    box = Sandbox(Settings(database_url=db.url), employees(3), port=0).start()
    try:
        yield box
    finally:
        box.stop()


def _dm(user: str) -> str:
    return "D" + user


def _command(page: Page, text: str) -> None:
    page.fill("#compose", text)
    page.press("#compose", "Enter")


def test_three_people_write_review_and_approve(
    sandbox: Sandbox, db: TestDatabase, tmp_path: Path
) -> None:
    ada, ben, camila = (p.id for p in employees(3))
    with chromium() as browser:
        a = person_page(browser, sandbox.url, ada, _dm(ada))
        _command(a, "/crowdtune write")
        modal = a.locator(".modal")
        expect(modal).to_be_visible(timeout=WAIT_MS)
        # Choosing a category is a block_actions the app answers with views.update.
        a.select_option("select[name='category/write_category']", "general_qa")
        expect(modal.locator(".bk-section").first).to_contain_text("General QA", timeout=WAIT_MS)
        a.fill("textarea[name='instruction/instruction']", INSTRUCTION)
        a.click(".btn-submit")  # Slack's client holds back a modal with a required field empty
        error = modal.locator(".bk-input-block[data-block-id=response] .bk-error")
        expect(error).to_have_text("Please complete this required field.")
        a.fill("textarea[name='response/response']", "ok")
        a.click(".btn-submit")  # the app's own check answers with response_action: errors
        expect(error).to_contain_text("too short", timeout=WAIT_MS)
        # The person's text survives the error, as in Slack.
        expect(a.locator("textarea[name='instruction/instruction']")).to_have_value(INSTRUCTION)
        error.scroll_into_view_if_needed()
        a.screenshot(path=str(tmp_path / "modal.png"))
        a.fill("textarea[name='response/response']", RESPONSE)
        a.click(".btn-submit")
        expect(a.locator(".modal")).to_have_count(0, timeout=WAIT_MS)
        expect(a.locator(".msg").last).to_contain_text("is waiting for review", timeout=WAIT_MS)

        for reviewer, name in ((ben, "ben"), (camila, "camila")):
            page = person_page(browser, sandbox.url, reviewer, _dm(reviewer))
            _command(page, "/crowdtune review")
            review = page.locator(".msg.ephemeral").last
            expect(review).to_contain_text("Review", timeout=WAIT_MS)
            # Ada's <!channel> arrives escaped and shows as the characters she typed.
            expect(review).to_contain_text(INSTRUCTION)
            expect(review.locator(".mention.broadcast")).to_have_count(0)
            page.screenshot(path=str(tmp_path / f"review-{name}.png"))
            if name == "ben":
                _readme_screenshot(page, tmp_path / "review-ben.png")
            review.locator("button[data-action-id=review_approve]").click()
            expect(review).to_contain_text("Approved", timeout=WAIT_MS)

        expect(page.locator(".msg.ephemeral").last).to_contain_text(
            "is now approved", timeout=WAIT_MS
        )
        a.click(".tab[data-tab=home]")
        expect(a.locator(".home")).to_contain_text("1 approved", timeout=WAIT_MS)
        a.screenshot(path=str(tmp_path / "home.png"))

    with db.session() as s:
        stored = s.scalars(select(Example).where(Example.instruction == INSTRUCTION)).one()
        assert stored.status == ExampleStatus.APPROVED
    for shot in ("modal.png", "review-ben.png", "review-camila.png", "home.png"):
        assert (tmp_path / shot).stat().st_size > 10_000, shot


def _readme_screenshot(page: Page, shot: Path) -> None:
    # The README's picture is this screenshot, refreshed on request, never on every run.
    target = os.environ.get("CROWDTUNE_README_SCREENSHOT")
    if target:
        shutil.copyfile(shot, REPO_ROOT / target)
