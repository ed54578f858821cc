"""`crowdtune sandbox`: its own database, localhost only, demo data, and the jobs run now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.config import Settings
from bot.sandbox.app import Sandbox
from bot.sandbox.demo import demo_pairs, seed_demo
from bot.sandbox.people import DIGEST_CHANNEL, EXPORT_CHANNEL, employees
from store.enums import ExampleStatus
from store.models import Example
from store.reviews import Quorum
from tests.conftest import REPO_ROOT
from tests.dbs import TestDatabase


def test_refuses_a_database_url_that_is_not_its_own(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://ml:hunter2@db.internal/prod")
    assert main(["sandbox", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL is set" in err and "--database-url" in err
    assert "hunter2" not in err and "ml:***@db.internal" in err


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (local)
        return bytes(resp.read())


def test_sandbox_serves_the_page_on_localhost_with_its_own_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SLACK_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", "--port", "0", "--demo", "--people", "3"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the first line says where to go
        assert "bound to 127.0.0.1" in line, line + (proc.stderr.read() if proc.stderr else "")
        url = line.split("open ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert b"crowdtune sandbox" in _get(url)
        state = json.loads(_get(url + "sandbox/state?since=-1"))
        assert [p["name"] for p in state["people"]] == [p.name for p in employees(3)]
        assert (tmp_path / "crowdtune-sandbox.db").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"{len(demo_pairs())} demo examples added" in err


def test_demo_examples_are_added_once(db: TestDatabase) -> None:
    pairs = demo_pairs()
    assert {p.category for p in pairs} >= {"open_qa", "closed_qa", "summarization"}
    with db.session() as s:
        assert seed_demo(s, Quorum(2, 2)) == len(pairs)
    with db.session() as s:
        assert seed_demo(s, Quorum(2, 2)) == 0
        counts = dict(
            s.execute(select(Example.status, func.count()).group_by(Example.status)).all()
        )
    assert counts == {
        ExampleStatus.APPROVED: sum(p.reviews >= 2 for p in pairs),
        ExampleStatus.PENDING: sum(p.reviews < 2 for p in pairs),
    }


def test_jobs_run_now_post_the_digest_chart_and_the_export_summary(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a PostgreSQL sandbox exports into the working folder
    box = Sandbox(Settings(database_url=db.url), employees(2), port=0).start()
    try:
        with db.session() as s:
            seed_demo(s, Quorum(2, 2))
        digest = box.jobs.run("digest")
        assert digest["outcome"] == "succeeded", digest
        posted = box.workspace.visible_messages(DIGEST_CHANNEL, employees(1)[0].id)
        chart = box.workspace.files[posted[-1].files[0]]
        assert chart.data.startswith(b"\x89PNG")
        assert box.jobs.run("nudges")["outcome"] == "succeeded"
        export = box.jobs.run("export")
        assert export["outcome"] == "succeeded", export
        summary = box.workspace.visible_messages(EXPORT_CHANNEL, employees(1)[0].id)
        assert summary and summary[-1].text
        # Exports of demo data go beside the sandbox's database, never into the real folder.
        root = Path(box.rt.settings.export_root)
        if db.kind == "sqlite":
            assert root == Path(db.url.removeprefix("sqlite:///")).with_suffix("").with_name(
                Path(db.url).stem + "-exports"
            )
        else:
            assert root == Path("crowdtune-sandbox-exports")
        assert any(root.iterdir())
    finally:
        box.stop()
