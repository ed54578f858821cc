"""The HTML report opened in Chromium: it renders, its charts are there, nothing leaves the page."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Request, Route

from exporters.report_charts import CHARTS
from exporters.report_html import write_html
from store.enums import Verdict
from store.report import TokenPrices, build_report
from store.reviews import Quorum, record_review
from tests.browser import chromium
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.report_demo import fill_demo


def _open(path: Path) -> tuple[dict[str, object], list[str], list[str]]:
    """Load the page; return what it shows, every request it made, and what was blocked."""
    seen: list[str] = []
    blocked: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", guard)

        def record(request: Request) -> None:
            seen.append(request.url)

        page.on("request", record)
        page.goto(path.as_uri(), wait_until="load")
        shown = page.evaluate(
            """() => ({
                title: document.title,
                headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
                charts: [...document.querySelectorAll('img[data-chart]')].map(i => ({
                    name: i.dataset.chart, width: i.naturalWidth, height: i.naturalHeight,
                    complete: i.complete, data: i.src.startsWith('data:image/png;base64,'),
                    visible: i.getBoundingClientRect().width > 100,
                })),
                flags: [...document.querySelectorAll('.flag')].map(f => f.textContent),
                text: document.body.innerText,
            })"""
        )
    return shown, seen, blocked


def test_report_renders_with_its_charts_and_no_request_leaves(
    db: TestDatabase, tmp_path: Path
) -> None:
    with db.session() as s:
        fill_demo(s, scale=0.4)  # enough for both flags, quick to write
        # User text reaches the page escaped, never as markup.
        writer, a, b = person(s, "UX"), person(s, "UA", "<b>Mallory</b>"), person(s, "UB")
        ex = example(s, writer)
        for who in (a, b):
            record_review(
                s,
                example_id=ex.id,
                reviewer=who,
                verdict=Verdict.REJECT,
                quorum=Quorum(2, 2),
                reason='<img src="https://example.com/x.png">',
            )
    with db.session() as s:
        report = build_report(s, prices=TokenPrices(0.15, 0.6))
    page = write_html(report, tmp_path / "report.html")
    shown, seen, blocked = _open(page)
    assert shown["title"] == "crowdtune quality report"
    assert shown["headings"] == [
        "Reviewer agreement",
        "Sourcing methods compared",
        "Over time",
        "Reviewers",
    ]
    charts = shown["charts"]
    assert isinstance(charts, list)
    assert sorted(c["name"] for c in charts) == sorted(CHARTS)
    for c in charts:
        assert c["complete"] and c["data"] and c["visible"], c
        assert c["width"] > 300 and c["height"] > 150, c
    # The demo's lenient and dissenting reviewers are flagged on the page.
    assert "approves almost everything" in shown["flags"]
    assert "often disagrees with the final decision" in shown["flags"]
    text = str(shown["text"])
    for origin in ("human", "llm", "imported", "transformed"):
        assert origin in text
    assert "<b>Mallory</b>" in text  # shown as text, not as markup
    assert blocked == []
    assert [u for u in seen if not u.startswith("data:")] == [page.as_uri()]


def test_an_empty_database_still_makes_a_page(db: TestDatabase, tmp_path: Path) -> None:
    with db.session() as s:
        report = build_report(s)
    shown, _, blocked = _open(write_html(report, tmp_path / "empty.html"))
    assert "No examples yet." in str(shown["text"]) and "No reviews yet." in str(shown["text"])
    assert blocked == []
