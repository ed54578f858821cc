"""bench/ack_bench.py measures what people feel: it must recognise each request's result,
tell an error reply from the result asked for, and find every acked change stored."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys

import pytest

from bench import ack_bench
from bot.slack.standin.web_api import SlackDouble
from tests.conftest import REPO_ROOT
from tests.dbs import selected_kinds


def test_an_error_reply_is_not_the_result_asked_for() -> None:
    approved = {
        "text": "Example to review: #7",
        "blocks": [{"type": "section", "text": {"text": ":white_check_mark: Approved. Thanks!"}}],
    }
    refused = {"text": ":warning: You already reviewed this example."}
    assert ack_bench._result_ok("Approve click", approved)
    assert not ack_bench._result_ok("Approve click", refused)
    # The next item without the approval's note: the click was not stored.
    assert not ack_bench._result_ok("Approve click", {"text": "Example to review: #7"})
    assert ack_bench._result_ok("/crowdtune review", {"text": "Nothing to review right now."})
    assert not ack_bench._result_ok("/crowdtune review", refused)
    thanks = {"text": ":raised_hands: Thank you! Your Open QA example (#9) is waiting for review."}
    assert ack_bench._result_ok("write submission", thanks)
    assert not ack_bench._result_ok("write submission", refused)


def test_poisson_arrivals_keep_the_rate_and_the_mix() -> None:
    rng = random.Random(3)
    with SlackDouble() as double:
        make = ack_bench.Requests(double, list(range(5000)), ack_bench.Words(rng, 500), {})
        make.write_view = {"id": "V1", "blocks": [], "private_metadata": "{}", "state": {}}
        requests = make.poisson(50, 60, rng)
    assert 2700 < len(requests) < 3300  # 3,000 expected; sd ~55
    assert all(a.at < b.at for a, b in itertools.pairwise(requests))
    approves = sum(r.kind == "Approve click" for r in requests) / len(requests)
    assert 0.55 < approves < 0.65
    # Each request's result is found by a key of its own.
    assert len({r.result for r in requests}) == len(requests)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", selected_kinds())
def test_a_short_run_finds_every_result_and_every_acked_change_stored(kind: str) -> None:
    small = ["--examples", "3000", "--rates", "5", "--duration", "3", "--burst", "30"]
    small += ["--burst-clients", "5", "--workers", "1", "--threads", "4"]
    out = subprocess.run(
        [sys.executable, "bench/ack_bench.py", "--databases", kind, *small],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    rows = [line for line in lines if line.startswith(f"{kind:<11}") and "Poisson" in line]
    assert rows, out.stdout
    assert any(f"{kind} 3,000:" in line and line.endswith(": ok") for line in lines), out.stdout
    assert "every acked request's result reached the person: 0 missing, 0 wrong" in out.stdout
    # The bare baseline took the same requests.
    assert any("5/s Poisson" in line and "x" in line.split()[-2] for line in lines), out.stdout
