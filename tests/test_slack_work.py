"""The work after each ack, forwarded to the work process as `crowdtune serve` does it."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.slack.standin.web_api import SlackDouble
from bot.slack.work import WorkAddress, WorkProcess
from store.models import Review
from tests import test_slack_write_review as flows
from tests.dbs import TestDatabase
from tests.factories import example, person
from tests.slack_fixtures import double
from tests.slack_requests import SlackApp, settings_for

__all__ = ["double"]  # fixture; flows' tests are run here with the work forwarded


@pytest.fixture(scope="module")
def work(_database: TestDatabase, double: SlackDouble) -> Iterator[WorkProcess]:
    """Two work processes per module and database, as `crowdtune serve --workers 2` starts."""
    settings = settings_for(_database.url, double, admin_user_ids="UADMIN")
    with WorkProcess(settings, processes=2) as processes:
        yield processes


def _app(db: TestDatabase, double: SlackDouble, address: WorkAddress) -> SlackApp:
    double.reset()
    return SlackApp(db, double, settings_for(db.url, double, admin_user_ids="UADMIN"), work=address)


@pytest.mark.parametrize(
    "flow",
    [
        flows.test_write_review_approve_by_three_users,
        flows.test_reject_needs_a_reason,  # the reply left by a modal's ack crosses the process hop
        flows.test_ai_drafts_are_labelled_and_verified_by_a_person,
        flows.test_double_clicked_approve_counts_once,
    ],
    ids=lambda flow: flow.__name__.removeprefix("test_"),
)
def test_flows_with_the_work_in_the_work_process(
    flow: Callable[[SlackApp], None], db: TestDatabase, double: SlackDouble, work: WorkProcess
) -> None:
    slack = _app(db, double, work.address)
    try:
        flow(slack)
    finally:
        slack.close()
    assert slack.runner is not None
    assert slack.runner.forwarded > 0 and slack.runner.ran_here == 0


def test_unreachable_work_process_means_work_runs_here(
    db: TestDatabase, double: SlackDouble, tmp_path: Path
) -> None:
    nowhere = WorkAddress((f"{tmp_path}/nobody-listens.sock",), b"key")
    slack = _app(db, double, nowhere)
    try:
        flows.test_write_review_approve_by_three_users(slack)
    finally:
        slack.close()
    assert slack.runner is not None
    assert slack.runner.forwarded == 0 and slack.runner.ran_here > 0


def test_a_wrong_key_is_refused_and_the_process_keeps_working(
    db: TestDatabase, double: SlackDouble, work: WorkProcess
) -> None:
    with pytest.raises(AuthenticationError):
        Client(work.address.paths[0], family="AF_UNIX", authkey=b"not the key")
    slack = _app(db, double, work.address)
    try:
        flows.test_reject_needs_a_reason(slack)
    finally:
        slack.close()


def test_stopping_finishes_the_work_already_forwarded(
    db: TestDatabase, double: SlackDouble
) -> None:
    with db.session() as s:
        alice = person(s, "UALICE")
        ids = [example(s, alice, instruction=f"Question number {i}?").id for i in range(25)]
    with WorkProcess(settings_for(db.url, double, quorum_approvals=1)) as process:
        slack = _app(db, double, process.address)
        for i, example_id in enumerate(ids):
            value = f'{{"id": {example_id}, "skip": []}}'
            assert slack.click(f"UREV{i:02d}", "review_approve", value).status == 200
        slack.close()  # everything is sent; the work process may still be working on it
    # The process exited only after finishing what it was sent.
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == len(ids)
    assert sum(c.method.startswith("response_url:") for c in double.calls) == len(ids)


def test_work_goes_round_the_work_processes_and_around_a_dead_one(
    db: TestDatabase, double: SlackDouble
) -> None:
    with WorkProcess(settings_for(db.url, double), processes=2) as processes:
        slack = _app(db, double, processes.address)
        try:
            flows.test_reject_needs_a_reason(slack)
            os.kill(processes.pids[0], signal.SIGKILL)
            os.waitpid(processes.pids[0], 0)  # what it had been sent and not read is lost
            db.reset()
            flows.test_write_review_approve_by_three_users(slack)
        finally:
            slack.close()
    assert slack.runner is not None
    assert slack.runner.forwarded > 0 and slack.runner.ran_here == 0


def test_a_call_that_cannot_be_forwarded_runs_here_and_forwarding_goes_on(
    db: TestDatabase, double: SlackDouble, work: WorkProcess
) -> None:
    slack = _app(db, double, work.address)
    try:
        assert slack.runner is not None
        # An ack that left something unpicklable for its follow-up: this call runs here.
        original = slack.runner.start

        def start_with_a_lock(function: Callable[..., None], request: Any) -> None:
            request["context"]["unpicklable"] = threading.Lock()
            original(function, request)
            slack.runner.start = original  # type: ignore[method-assign]

        slack.runner.start = start_with_a_lock  # type: ignore[method-assign]
        flows.test_write_review_approve_by_three_users(slack)
    finally:
        slack.close()
    assert slack.runner.ran_here == 1 and slack.runner.forwarded > 0
