"""`crowdtune serve`: clear errors for missing settings; gunicorn end to end in HTTP mode."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.cli import main
from tests.conftest import REPO_ROOT
from tests.dbs import TestDatabase
from tests.slack_double import VALID_TOKEN, SlackDouble
from tests.slack_requests import SIGNING_SECRET, get, post, signed_headers

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


@pytest.fixture
def served(db: TestDatabase) -> Iterator[tuple[str, SlackDouble]]:
    """`crowdtune serve` (gunicorn) in a subprocess, talking to a double and the test db."""
    with SlackDouble() as double:
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
            [sys.executable, "-m", "bot.cli", "serve", "--workers", "1", "--threads", "4"],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # gunicorn binds before it logs its worker: reading the log is the readiness signal.
            assert proc.stderr is not None
            for line in proc.stderr:
                if "Booting worker" in line:
                    break
            else:
                pytest.fail(f"gunicorn did not start (exit {proc.wait()})")
            log: list[str] = []
            reader = threading.Thread(target=lambda: log.extend(proc.stderr or ()), daemon=True)
            reader.start()
            yield f"http://127.0.0.1:{port}", double
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        reader.join(10)
        # The work after each ack ran in the work process, which stopped with the server.
        assert not [line for line in log if "working in this process" in line], log
        assert not [line for line in log if "Traceback" in line], log


def test_gunicorn_serves_signed_requests_and_healthz(served: tuple[str, SlackDouble]) -> None:
    url, double = served
    assert get(url + "/healthz").status == 200
    form = {
        "command": "/crowdtune",
        "text": "stats",
        "team_id": "T0001",
        "user_id": "UALICE",
        "user_name": "alice",
        "response_url": double.response_url("e2e"),
        "trigger_id": "t1",
    }
    body = urlencode(form).encode()
    content = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post(url + "/slack/events", body, content).status == 401  # unsigned
    assert post(url + "/slack/events", body, {**content, **signed_headers(body)}).status == 200
    reply = double.wait_for("response_url:e2e")[0]
    assert "Progress toward targets" in str(reply.args["text"])
    assert double.calls_to("auth.test")  # the token was checked at startup
