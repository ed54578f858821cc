"""`crowdtune serve`: clear errors for missing settings; gunicorn end to end in HTTP mode."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.slack.standin.web_api import VALID_TOKEN, SlackDouble
from store.models import Review
from tests.conftest import REPO_ROOT
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_requests import (
    SIGNING_SECRET,
    click_payload,
    command_fields,
    get,
    post,
    signed_headers,
)

SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


@pytest.fixture
def no_slack_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SLACK_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the working folder


@pytest.mark.usefixtures("no_slack_env")
def test_missing_settings_are_named_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crowdtune: missing setting(s): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET")
    assert "Traceback" not in err


@pytest.mark.usefixtures("no_slack_env")
def test_a_refused_token_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with SlackDouble() as double:
        monkeypatch.setenv("SLACK_API_URL", double.api_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
        assert main(["serve"]) == 2
    assert "SLACK_BOT_TOKEN was refused" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """`crowdtune serve` running in a subprocess (its own process group), and what it logged."""

    url: str
    double: SlackDouble
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def stop(self) -> list[str]:
        """SIGTERM, as a platform stops a web process; wait for it; return its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        return self.log

    def kill(self) -> None:
        """SIGKILL to the whole process group (gunicorn's arbiter and its workers), as a
        crashing host or an OOM kill of the group does."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)


@contextmanager
def serving(db: TestDatabase, double: SlackDouble, *, workers: int = 1) -> Iterator[Served]:
    """`crowdtune serve` (gunicorn) in a subprocess, talking to `double` and the test db."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in SLACK_VARS},
        "DATABASE_URL": db.url,
        "SLACK_BOT_TOKEN": VALID_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": double.api_url,
        "PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--workers", str(workers), "--threads", "4"],
        cwd=REPO_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a test can kill all of it
    )
    server = Served(f"http://127.0.0.1:{port}", double, proc)
    reader: threading.Thread | None = None
    try:
        # gunicorn binds before it logs its workers: reading the log is the readiness signal.
        assert proc.stderr is not None
        booted = 0
        for line in proc.stderr:
            server.log.append(line)
            booted += "Booting worker" in line
            if booted == workers:
                break
        else:
            pytest.fail(f"gunicorn did not start (exit {proc.wait()}): {server.log}")
        reader = threading.Thread(target=lambda: server.log.extend(proc.stderr or ()), daemon=True)
        reader.start()
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if reader is not None:
            reader.join(10)
    assert not [line for line in server.log if "Traceback" in line], server.log


@pytest.fixture
def served(db: TestDatabase) -> Iterator[Served]:
    """`crowdtune serve` with one gunicorn worker."""
    with SlackDouble() as double, serving(db, double) as server:
        yield server


def test_gunicorn_serves_signed_requests_and_healthz(served: Served) -> None:
    url, double = served.url, served.double
    assert get(url + "/healthz").status == 200
    form = command_fields(double, "UALICE", "stats", response_url=double.response_url("e2e"))
    body = urlencode(form).encode()
    content = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post(url + "/slack/events", body, content).status == 401  # unsigned
    assert post(url + "/slack/events", body, {**content, **signed_headers(body)}).status == 200
    reply = double.wait_for("response_url:e2e")[0]
    assert "Progress toward targets" in str(reply.args["text"])
    assert double.calls_to("auth.test")  # the token was checked at startup


def test_stopping_serve_sends_the_reply_of_every_acked_request(
    served: Served, db: TestDatabase
) -> None:
    with db.session() as s:
        alice = person(s, "UALICE")
        ids = [example(s, alice, instruction=f"Question number {i}?").id for i in range(20)]
    for i, example_id in enumerate(ids):
        payload = click_payload(
            served.double,
            f"UREV{i:02d}",
            "review_approve",
            json.dumps({"id": example_id, "skip": []}),
            response_url=served.double.response_url(f"stop{i}"),
        )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)}
        assert post(served.url + "/slack/events", body, headers).status == 200
    served.stop()  # right after the last ack: the replies may not have been sent yet
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == len(ids)
    replies = [c for c in served.double.calls if c.method.startswith("response_url:stop")]
    assert len(replies) == len(ids)
