"""What people feel on the Slack path: ack latency, and the time until they see the result.

`crowdtune serve` (gunicorn, Bolt's WSGI adapter) runs on a store of synthetic examples
(67,000 and 1,000,000 by default) on SQLite and PostgreSQL, its Web API calls going to the
local Slack double in this process. A client in its own process sends signed requests:

- at 5, 20 and 50 requests/s with Poisson arrivals (exponential gaps, open loop: a slow ack
  never holds the next request back), 60 s each, a mix of what people do: 60 % Approve
  clicks, 20 % `/crowdtune review`, 10 % `/crowdtune write` (opens the modal), 10 % write
  submissions (a new example, checked against the corpus for near-duplicates, stored in the
  ack);
- then the burst the old design was measured with: 400 Approve clicks from 20 clients at
  once, each sending its next click as soon as the last is acked.

Right after each run the same requests go to a bare Bolt app that only acks (bench/bare_app.py,
same gunicorn settings, started beside crowdtune's): on a shared machine, what its load alone
does to an ack at that rate.

For each request: the ack (HTTP 200 from /slack/events), and the time from sending it until
its result reaches the double — the replaced message with the next example under the
approval's note, the review reply, the opened modal, the thank-you DM; an error message in
their place counts as wrong, not as a result. After each store's runs, every acked Approve
must be a stored review and every acked submission a stored example (none twice). Targets:
ack p99 < 300 ms at 50 req/s with 1M examples; result p95 < 1 s at 20 req/s; every ack under
Slack's 3 s in every run, the burst included.

    .venv/bin/python bench/ack_bench.py [--examples 67000,1000000] [--rates 5,20,50]
        [--duration 60] [--burst 400] [--burst-clients 20] [--bare-rates 5,20,50]
        [--databases sqlite,postgresql] [--workers 2] [--threads 8] [--seed 1]
        [--mix 'Approve click=0.6,...'] [--no-snapshot] [--profile DIR]

The store is filled through bench/bulk.py (counter triggers bypassed, one recount): synthetic
text over a Zipf-distributed vocabulary of 20,000 made-up words, so that submissions share
words with stored examples the way real text does (the near-duplicate check sees
in-distribution text); written over two years (created_at/updated_at spread, as in a store
that has been running: rows stamped at fill time would all look "changed in the last minute"
to the index's catch-up), each approved example with its two approving reviews, 1 % pending
review. The near-duplicate snapshot `crowdtune db upgrade` writes is written first and mapped
by every worker (--no-snapshot: each builds the index from the table). --profile samples
crowdtune's workers with py-spy during each run (collapsed stacks, one file per worker).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from bench.bulk import BulkLoader  # noqa: E402
from bot.slack.standin.web_api import TEAM_ID, VALID_TOKEN, Call, SlackDouble  # noqa: E402
from migrations import runner  # noqa: E402
from store.categories import seed_default_categories  # noqa: E402
from store.db import make_engine, make_session_factory, session_scope  # noqa: E402
from store.models import Category, Contributor, Example, Review  # noqa: E402
from store.quality.dedup import DedupIndex  # noqa: E402
from store.types import utcnow  # noqa: E402
from tests.slack_requests import (  # noqa: E402
    SIGNING_SECRET,
    click_payload,
    command_fields,
    fill,
    opened_view,
    signed_headers,
)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_ACK_P99_MS = 300.0  # at 50 req/s with 1M examples
TARGET_RESULT_P95_MS = 1000.0  # at 20 req/s
SLACK_LIMIT_MS = 3000.0  # every ack, every run
MIX: tuple[tuple[str, float], ...] = (
    ("Approve click", 0.6),
    ("/crowdtune review", 0.2),
    ("/crowdtune write", 0.1),
    ("write submission", 0.1),
)
VOCABULARY = 20_000
QUORUM = 2  # approving reviews of each stored approved example (the default quorum)
BULK_BATCH = 20_000
FORM = "application/x-www-form-urlencoded"
# py-spy (pip install py-spy) on a worker: 50 samples/s, collapsed stacks, without pausing it.
PY_SPY = [str(Path(sys.executable).with_name("py-spy")), "record", "-r", "50", "-f", "raw"]
PY_SPY.append("--nonblocking")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Served:
    """A running server: its /slack/events URL and the gunicorn arbiter's pid."""

    url: str
    pid: int

    def workers(self) -> list[int]:
        """The pids of its workers (the arbiter's children)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []


@contextmanager
def profiled(served: Served, directory: Path | None, name: str) -> Iterator[None]:
    """py-spy samples every worker while the block runs (raw collapsed stacks, one file per
    worker, in `directory`); nothing when no directory is given."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [*PY_SPY, "-p", str(pid), "-o", str(directory / f"{name}.{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in served.workers()
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            spy.wait(timeout=60)


@contextmanager
def server(cmd: list[str], env: dict[str, str], workers: int, threads: int) -> Iterator[Served]:
    """A gunicorn server like production's; yields it once its workers answer."""
    port = _free_port()
    env = {**os.environ, **env, "PORT": str(port)}
    if "serve" in cmd:
        args = [*cmd, "--workers", str(workers), "--threads", str(threads)]
    else:
        args = [*cmd, "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads)]
        args += ["-k", "gthread", "--access-logfile", "-"]  # crowdtune serve logs requests too
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    log: deque[str] = deque(maxlen=50)
    try:
        booted = 0
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            booted += "Booting worker" in line
            if booted == workers:
                break
        else:
            raise RuntimeError(f"{cmd} did not start (exit {proc.wait()}): {''.join(log)}")
        # Keep reading its log so the pipe never fills and blocks the server.
        threading.Thread(target=lambda: log.extend(proc.stderr or ()), daemon=True).start()
        _wait_ready(f"http://127.0.0.1:{port}", proc, log)
        yield Served(f"http://127.0.0.1:{port}/slack/events", proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def _wait_ready(url: str, proc: subprocess.Popen[str], log: deque[str]) -> None:
    """gunicorn logs a worker before it has loaded the app (and built its index): wait until
    an unsigned request is refused (401), i.e. a worker answers."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {''.join(log)}")
        req = urllib.request.Request(url + "/slack/events", data=b"x", method="POST")  # noqa: S310
        try:
            urllib.request.urlopen(req, timeout=300)  # noqa: S310 (local server)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the server never answered")


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh migrated database of `kind`; dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            runner.upgrade(url)
            yield url
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"crowdtune_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        runner.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Words:
    """Made-up words with Zipf frequencies: text that shares words the way real text does."""

    def __init__(self, rng: random.Random, size: int = VOCABULARY) -> None:
        letters = "bcdfghjklmnprstvwz"
        vowels = "aeiou"
        seen: set[str] = set()
        while len(seen) < size:
            syllables = rng.randint(1, 4)
            seen.add("".join(rng.choice(letters) + rng.choice(vowels) for _ in range(syllables)))
        self.words = sorted(seen, key=lambda w: (len(w), w))  # short words are the common ones
        self.cum = list(accumulate(1.0 / rank for rank in range(1, size + 1)))
        self.rng = rng

    def sentence(self, n: int) -> str:
        """n words, capitalised, ending with a full stop."""
        words = self.rng.choices(self.words, cum_weights=self.cum, k=n)
        return " ".join(words).capitalize() + "."


# The stored corpus's age: a store of this size has been collected over about this long, so
# its rows' created_at/updated_at are spread over it (a freshly stamped corpus would make every
# row "recently changed" for the near-duplicate index's catch-up, which no real store sees).
CORPUS_DAYS = 730
# The pending examples (awaiting review) were written in the last few days.
PENDING_DAYS = 3
WRITERS = 200


def fill_store(url: str, examples: int, pending: int, words: Words) -> list[int]:
    """Bulk-fill a store (bench/bulk.py: counter triggers bypassed, one recount) with synthetic
    examples written over CORPUS_DAYS, each approved one with its quorum of approving reviews;
    the last `pending` await review. Returns the pending ids."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as s:
        seed_default_categories(s)
        cats = list(s.scalars(select(Category.id)))
        s.execute(
            insert(Contributor),
            [
                {"team_id": TEAM_ID, "slack_user_id": f"UW{i:04d}", "display_name": f"writer {i}"}
                for i in range(WRITERS)
            ],
        )
        authors = list(s.scalars(select(Contributor.id)))
    now = utcnow()
    approved = examples - pending
    rng = words.rng

    def when(i: int) -> datetime:
        # Ascending with the id, as rows are inserted; the pending ones are the newest.
        if i < approved:
            return now - timedelta(days=CORPUS_DAYS * (1 - i / max(1, approved)) + PENDING_DAYS)
        return now - timedelta(days=PENDING_DAYS * (1 - (i - approved) / max(1, pending)))

    with BulkLoader(engine) as bulk:
        for first in range(0, examples, BULK_BATCH):
            rows: list[dict[str, Any]] = []
            reviews: list[dict[str, Any]] = []
            for i in range(first, min(examples, first + BULK_BATCH)):
                ins = words.sentence(rng.randint(6, 16)).removesuffix(".") + "?"
                resp = words.sentence(rng.randint(10, 40))
                at = when(i)
                author = authors[i % len(authors)]
                rows.append(
                    {
                        "category_id": cats[i % len(cats)],
                        "instruction": ins,
                        "response": resp,
                        "status": "pending" if i >= approved else "approved",
                        "author_id": author,
                        "review_count": QUORUM if i < approved else 0,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            ids = bulk.examples(rows, batch=len(rows))
            for example_id, row in zip(ids, rows, strict=True):
                if row["status"] != "approved":
                    continue
                others = [a for a in rng.sample(authors, QUORUM + 1) if a != row["author_id"]]
                for reviewer in others[:QUORUM]:
                    reviews.append(
                        {
                            "example_id": example_id,
                            "reviewer_id": reviewer,
                            "created_at": row["created_at"] + timedelta(hours=rng.random() * 48),
                        }
                    )
            bulk.reviews(reviews, batch=max(1, len(reviews)))
    with session_scope(sessions) as s:
        ids = list(
            s.scalars(select(Example.id).where(Example.status == "pending").order_by(Example.id))
        )
    engine.dispose()
    return ids


def write_snapshot(url: str, directory: Path) -> int:
    """The near-duplicate index snapshot `crowdtune db upgrade` writes (every worker maps it
    at start and catches up, instead of building the index from the table)."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as s:
            return DedupIndex.write_snapshot(s, directory)
    finally:
        engine.dispose()


@dataclass
class Request:
    """One request to send: when (s after the start), what, and how its result is found."""

    n: int
    kind: str
    body: bytes
    at: float = 0.0
    result: tuple[str, str] = ("", "")  # (double method, trigger id or channel) of the result


@dataclass
class Requests:
    """Builds the signed bodies of each kind; `n` numbers every request of the whole run."""

    double: SlackDouble
    pending: list[int]
    words: Words
    write_view: dict[str, Any]
    mix: tuple[tuple[str, float], ...] = MIX
    n: int = 0
    approved: int = 0

    def make(self, kind: str) -> Request:
        """The next request of `kind`."""
        n = self.n
        self.n += 1
        if kind == "Approve click":
            example_id = self.pending[self.approved]
            self.approved += 1
            payload = click_payload(
                self.double,
                f"UR{n % 2000:04d}",
                "review_approve",
                json.dumps({"id": example_id, "skip": []}),
                response_url=self.double.response_url(f"a{n}"),
            )
            body = urlencode({"payload": json.dumps(payload)}).encode()
            return Request(n, kind, body, result=(f"response_url:a{n}", ""))
        if kind in ("/crowdtune review", "/crowdtune write"):
            words = kind.split()[1] + (" open_qa" if kind.endswith("write") else "")
            form = command_fields(
                self.double,
                f"UR{n % 2000:04d}",
                words,
                response_url=self.double.response_url(f"b{n}"),
            )
            form["trigger_id"] = f"trig-{n}"  # views.open names it: how results are matched
            body = urlencode(form).encode()
            if kind.endswith("write"):
                return Request(n, kind, body, result=("views.open", f"trig-{n}"))
            return Request(n, kind, body, result=(f"response_url:b{n}", ""))
        user = f"US{n:06d}"  # the thank-you DM goes to this channel: how it is matched
        view = fill(
            {**self.write_view, "id": f"VB{n:06d}"},
            instruction=self.words.sentence(12).removesuffix(".") + "?",
            response=self.words.sentence(30),
        )
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": {
                "id": user,
                "username": user.lower(),
                "name": user.lower(),
                "team_id": TEAM_ID,
            },
            "api_app_id": "A0CROWD",
            "trigger_id": f"trig-{n}",
            "view": view,
            "response_urls": [],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return Request(n, kind, body, result=("chat.postMessage", user))

    def poisson(self, rate: float, duration: float, rng: random.Random) -> list[Request]:
        """Requests arriving at `rate`/s for `duration` s, exponential gaps, kinds by the mix."""
        out = []
        at = rng.expovariate(rate)
        kinds = [k for k, _ in self.mix]
        weights = [w for _, w in self.mix]
        while at < duration:
            req = self.make(rng.choices(kinds, weights=weights)[0])
            req.at = at
            out.append(req)
            at += rng.expovariate(rate)
        return out


@dataclass(frozen=True)
class Timing:
    """One request as the client saw it."""

    sent: float  # time.monotonic() when sent: one clock for all processes (the double's too)
    ack_ms: float
    status: int
    refused: bool  # the ack carried `response_action: errors` (a submission refused in the ack)


@dataclass(frozen=True)
class Sent:
    """What the client process measured: every request, and how well it kept to schedule."""

    timings: list[Timing]
    seconds: float  # from the first send to the last ack
    late_ms: float  # open loop: the latest a request left after its scheduled time


def send(url: str, schedule: list[tuple[float, bytes]], clients: int) -> Sent:
    """Send each body at its time (open loop) or, with `clients`, that many at once (closed
    loop); timed in a separate process so the double's work stays out of the figures."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        sent: Sent = pool.apply(_send, (url, schedule, clients))
        return sent


def _send(url: str, schedule: list[tuple[float, bytes]], clients: int) -> Sent:
    def one(body: bytes) -> Timing:
        headers = {"Content-Type": FORM, **signed_headers(body)}
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        sent = time.monotonic()
        started = time.perf_counter()
        answer = b""
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (local server)
                answer = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        ms = (time.perf_counter() - started) * 1000
        return Timing(sent, ms, status, b'"response_action"' in answer and b'"errors"' in answer)

    start = time.monotonic() + 0.2
    late = 0.0
    if clients:
        with ThreadPoolExecutor(clients) as pool:
            timings = list(pool.map(one, [body for _, body in schedule]))
    else:
        with ThreadPoolExecutor(256) as pool:
            futures = []
            for at, body in schedule:
                wait = start + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                late = max(late, -wait)
                futures.append(pool.submit(one, body))
            timings = [f.result() for f in futures]
    first = min((t.sent for t in timings), default=start)
    last = max((t.sent + t.ack_ms / 1000 for t in timings), default=start)
    return Sent(timings, last - first, late * 1000)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank); nan when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Run:
    """One load on one store: each request's ack and result latency (ms), by kind."""

    database: str
    examples: int
    load: str
    seconds: float
    load_avg: tuple[float, float]  # the machine's 1-minute load average before and after
    acks: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, list[float]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # requests sent, by kind
    failed: int = 0  # requests not answered 200 (0: no answer within the client's 30 s)
    refused: int = 0  # submissions refused in the ack (near-duplicate, validation)
    wrong: int = 0  # results that were an error message instead of what was asked for
    late_ms: float = 0.0  # how late the client sent its latest request (open loop)
    bare_acks: list[float] = field(default_factory=list)
    bare_load_avg: tuple[float, float] = (0.0, 0.0)

    def all(self, what: dict[str, list[float]]) -> list[float]:
        """Every kind's values together."""
        return [v for values in what.values() for v in values]


# What each kind's result must say to be what the person asked for (not an error message).
NEXT_ITEM = ("Example to review", "AI draft to verify", "Nothing to review")


def _result_ok(kind: str, args: dict[str, Any]) -> bool:
    text = str(args.get("text", ""))
    if kind == "Approve click":  # the next item, under the note that the approval is stored
        return text.startswith(NEXT_ITEM) and ":white_check_mark:" in json.dumps(args)
    if kind == "/crowdtune review":
        return text.startswith(NEXT_ITEM)
    if kind == "write submission":
        return text.startswith(":raised_hands: Thank you!")
    return True  # views.open of the write modal: the modal is the result


def _key(call: Call) -> tuple[str, str]:
    # How a request's result is recognised (see Request.result).
    if call.method == "views.open":
        return call.method, str(call.args.get("trigger_id", ""))
    if call.method == "chat.postMessage":
        return call.method, str(call.args.get("channel", ""))
    return call.method, ""


def _arrivals_unlocked(double: SlackDouble) -> dict[tuple[str, str], Call]:
    # Called with the double's lock held: the first call Slack took for each result key.
    arrived: dict[tuple[str, str], Call] = {}
    for call in double.calls:
        if call.status == 200 and call.reply.get("ok"):
            arrived.setdefault(_key(call), call)
    return arrived


def measure(url: str, double: SlackDouble, requests: list[Request], clients: int, run: Run) -> None:
    """Send `requests`, wait for their results, record acks and result latencies in `run`."""
    before = os.getloadavg()[0]
    sent = send(url, [(r.at, r.body) for r in requests], clients)
    run.seconds, run.late_ms = sent.seconds, sent.late_ms
    expected = {
        r.result
        for r, t in zip(requests, sent.timings, strict=True)
        if t.status == 200 and not t.refused
    }
    with double._lock:  # results still due after the last ack: at most a minute more
        double._lock.wait_for(lambda: expected <= _arrivals_unlocked(double).keys(), timeout=60)
        arrived = _arrivals_unlocked(double)
    run.load_avg = (before, os.getloadavg()[0])
    for req, t in zip(requests, sent.timings, strict=True):
        run.sent[req.kind] = run.sent.get(req.kind, 0) + 1
        if t.status != 200:
            run.failed += 1
            continue
        run.acks.setdefault(req.kind, []).append(t.ack_ms)
        run.refused += t.refused
        got = arrived.get(req.result)
        if got is None:
            continue
        if not _result_ok(req.kind, got.args):
            run.wrong += 1
            continue
        run.results.setdefault(req.kind, []).append((got.at - t.sent) * 1000)


@dataclass
class Stored:
    """What the store holds after a store's runs, against what was acked."""

    database: str
    examples: int
    approvals_acked: int
    approvals_sent: int
    reviews_stored: int
    submissions_acked: int  # acked and not refused in the ack
    submissions_sent: int
    examples_stored: int

    def ok(self) -> bool:
        """Every acked change stored, none twice (a request the client gave up on, after 30 s,
        may be stored too: it was not acked in time, so Slack told the person it failed)."""
        return (
            self.approvals_acked <= self.reviews_stored <= self.approvals_sent
            and self.submissions_acked <= self.examples_stored <= self.submissions_sent
        )


def stored_check(url: str) -> tuple[int, int]:
    """(reviews by the bench's reviewers, examples by the bench's writers) in the store."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            reviews = conn.execute(
                select(func.count())
                .select_from(Review)
                .join(Contributor, Contributor.id == Review.reviewer_id)
                .where(Contributor.slack_user_id.like("UR%"))
            ).scalar_one()
            written = conn.execute(
                select(func.count())
                .select_from(Example)
                .join(Contributor, Contributor.id == Example.author_id)
                .where(Contributor.slack_user_id.like("US%"))
            ).scalar_one()
        return int(reviews), int(written)
    finally:
        engine.dispose()


def bench_store(kind: str, examples: int, args: argparse.Namespace) -> tuple[list[Run], Stored]:
    """Every load against one database of `examples` examples."""
    rng = random.Random(args.seed)
    words = Words(rng)
    rates = [float(r) for r in args.rates.split(",") if r]
    share = dict(args.mix).get("Approve click", 0.0) / sum(w for _, w in args.mix)
    approves = int(sum(rates) * args.duration * share * 1.2) + args.burst + 100  # with room
    runs = []
    with (
        database(kind) as url,
        SlackDouble() as double,
        tempfile.TemporaryDirectory() as tmp,
    ):
        started = time.perf_counter()
        pending = fill_store(url, examples, max(approves, examples // 100), words)
        print(
            f"[{kind} {examples:,}] stored ({len(pending):,} pending) in "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        env = {
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": VALID_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": double.api_url,
            "CROWDTUNE_LOG_LEVEL": "WARNING",
        }
        if args.snapshot:
            started = time.perf_counter()
            snapshot = Path(tmp) / "dedup"
            held = write_snapshot(url, snapshot)
            env["CROWDTUNE_DEDUP_SNAPSHOT"] = str(snapshot)
            print(
                f"[{kind} {examples:,}] near-duplicate snapshot of {held:,} written in "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        crowdtune = [sys.executable, "-m", "bot.cli", "serve"]
        bare = [sys.executable, "-m", "gunicorn", "bench.bare_app:create()"]
        started = time.perf_counter()
        with (
            server(crowdtune, env, args.workers, args.threads) as app,
            server(bare, env, args.workers, args.threads) as bare_app,
        ):
            app_url, bare_url = app.url, bare_app.url
            print(
                f"[{kind} {examples:,}] serving after {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
            # Warm up (connections, imports) and fetch the write modal the submissions fill.
            make = Requests(double, pending, words, {}, args.mix)
            warm = [make.make("/crowdtune write") for _ in range(2 * args.workers * args.threads)]
            send(app_url, [(0.0, r.body) for r in warm], args.threads)
            send(bare_url, [(0.0, r.body) for r in warm], args.threads)
            call = double.wait_for("views.open", len(warm), timeout=120)[-1]
            make.write_view = opened_view(call.args)
            double.reset()
            loads = [
                (f"{rate:g}/s Poisson", make.poisson(rate, args.duration, rng), 0) for rate in rates
            ]
            burst = [make.make("Approve click") for _ in range(args.burst)]
            loads.append((f"burst {args.burst}x{args.burst_clients}", burst, args.burst_clients))
            for load, requests, clients in loads:
                run = Run(kind, examples, load, 0.0, (0.0, 0.0))
                with profiled(
                    app, args.profile, f"{kind}-{examples}-{load.split()[0].replace('/s', 'rps')}"
                ):
                    measure(app_url, double, requests, clients, run)
                double.reset()
                if load.startswith("burst") or load.split("/")[0] in args.bare_rates.split(","):
                    # The same requests, at once after, to a Bolt app that only acks: what the
                    # machine's load alone does to an ack at this rate.
                    before = os.getloadavg()[0]
                    bare_sent = send(bare_url, [(r.at, r.body) for r in requests], clients)
                    run.bare_acks = [t.ack_ms for t in bare_sent.timings if t.status == 200]
                    run.bare_load_avg = (before, os.getloadavg()[0])
                    double.reset()
                runs.append(run)
                print(f"[{kind} {examples:,}] {run.load} done", file=sys.stderr)
        reviews, written = stored_check(url)
    store = Stored(
        kind,
        examples,
        approvals_acked=sum(len(r.acks.get("Approve click", [])) for r in runs),
        approvals_sent=sum(r.sent.get("Approve click", 0) for r in runs),
        reviews_stored=reviews,
        submissions_acked=sum(len(r.acks.get("write submission", [])) - r.refused for r in runs),
        submissions_sent=sum(r.sent.get("write submission", 0) for r in runs),
        examples_stored=written,
    )
    return runs, store


def _ms(values: list[float], q: float) -> str:
    return f"{pct(values, q):.1f}"


def report(runs: list[Run], stores: list[Stored], args: argparse.Namespace) -> None:
    """Print the tables and the targets."""
    print(
        f"crowdtune serve: gunicorn gthread, {args.workers} workers x {args.threads} threads; "
        f"{os.cpu_count()} CPUs; Poisson runs {args.duration:g} s each; mix "
        + ", ".join(f"{k} {w:.0%}" for k, w in args.mix)
    )
    print(
        "ms; res = from sending a request until its result reached the Slack double; results = "
        "arrived/acked (wrong: an error message instead); late = the client's worst lag behind "
        "its schedule; load avg = the machine's 1-minute load average before-after"
    )
    header = (
        f"{'database':<11}{'examples':>10}  {'load':<16}{'sent':>6}{'req/s':>7}{'fail':>5}"
        f"{'ack p50':>9}{'ack p99':>9}{'ack max':>9}{'res p50':>9}{'res p95':>9}{'res p99':>9}"
        f"{'results':>10}{'wrong':>6}{'late':>6}{'load avg':>10}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        acks, results = run.all(run.acks), run.all(run.results)
        sent = len(acks) + run.failed
        print(
            f"{run.database:<11}{run.examples:>10,}  {run.load:<16}{sent:>6}"
            f"{sent / run.seconds:>7.1f}{run.failed:>5}"
            f"{pct(acks, 50):>9.1f}{pct(acks, 99):>9.1f}{max(acks, default=float('nan')):>9.1f}"
            f"{pct(results, 50):>9.1f}{pct(results, 95):>9.1f}{pct(results, 99):>9.1f}"
            f"{f'{len(results)}/{len(acks) - run.refused}':>10}{run.wrong:>6}"
            f"{run.late_ms:>6.0f}"
            f"{f'{run.load_avg[0]:.1f}-{run.load_avg[1]:.1f}':>10}"
        )
    print()
    print("by request kind (ms): ack p99 / result p95")
    kinds = [k for k, _ in MIX]
    header = f"{'database':<11}{'examples':>10}  {'load':<16}" + "".join(f"{k:>22}" for k in kinds)
    print(header)
    print("-" * len(header))
    for run in runs:
        cells = []
        for k in kinds:
            if k not in run.acks:
                cells.append(f"{'-':>22}")
                continue
            cells.append(
                f"{f'{pct(run.acks[k], 99):.0f} / {pct(run.results.get(k, []), 95):.0f}':>22}"
            )
        print(f"{run.database:<11}{run.examples:>10,}  {run.load:<16}" + "".join(cells))
    print()
    print(
        "baseline: the same requests, sent right after, to a bare Bolt app that only acks "
        "(bench/bare_app.py, same gunicorn settings)"
    )
    header = (
        f"{'database':<11}{'examples':>10}  {'load':<16}{'ack p50':>9}{'ack p99':>9}"
        f"{'bare p50':>10}{'bare p99':>10}{'p99 ratio':>11}{'bare load':>11}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        if not run.bare_acks:
            continue
        acks = run.all(run.acks)
        ratio = pct(acks, 99) / pct(run.bare_acks, 99)
        print(
            f"{run.database:<11}{run.examples:>10,}  {run.load:<16}{_ms(acks, 50):>9}"
            f"{_ms(acks, 99):>9}{_ms(run.bare_acks, 50):>10}{_ms(run.bare_acks, 99):>10}"
            f"{ratio:>10.2f}x"
            f"{f'{run.bare_load_avg[0]:.1f}-{run.bare_load_avg[1]:.1f}':>11}"
        )
    print()
    print("stored after each store's runs (every acked change is in the database, once)")
    for st in stores:
        print(
            f"  {st.database} {st.examples:,}: {st.reviews_stored:,} reviews for "
            f"{st.approvals_acked:,} acked of {st.approvals_sent:,} Approve clicks, "
            f"{st.examples_stored:,} examples for {st.submissions_acked:,} acked of "
            f"{st.submissions_sent:,} submissions: {'ok' if st.ok() else 'MISMATCH'}"
        )
    print()
    print("targets:")
    for run in runs:
        acks, results = run.all(run.acks), run.all(run.results)
        if run.load == "50/s Poisson" and run.examples >= 1_000_000:
            p99 = pct(acks, 99)
            ok = p99 < TARGET_ACK_P99_MS
            print(
                f"  ack p99 < {TARGET_ACK_P99_MS:.0f} ms at 50 req/s, {run.examples:,} examples, "
                f"{run.database}: {p99:.0f} ms {'met' if ok else 'MISSED'}"
            )
        if run.load == "20/s Poisson":
            p95 = pct(results, 95)
            ok = p95 < TARGET_RESULT_P95_MS
            print(
                f"  result p95 < {TARGET_RESULT_P95_MS:.0f} ms at 20 req/s, {run.examples:,} "
                f"examples, {run.database}: {p95:.0f} ms {'met' if ok else 'MISSED'}"
            )
    worst = max(runs, key=lambda r: max(r.all(r.acks), default=0.0))
    slow = [r for r in runs if max(r.all(r.acks), default=0.0) >= SLACK_LIMIT_MS or r.failed]
    print(
        f"  every ack < {SLACK_LIMIT_MS:.0f} ms in every run: slowest "
        f"{max(worst.all(worst.acks), default=0.0):.0f} ms ({worst.database} "
        f"{worst.examples:,} {worst.load}); "
        + ("met" if not slow else f"MISSED in {len(slow)} run(s) (or requests not answered 200)")
    )
    unseen = sum(len(r.all(r.acks)) - r.refused - len(r.all(r.results)) for r in runs)
    print(
        f"  every acked request's result reached the person: {unseen} missing, "
        f"{sum(r.wrong for r in runs)} wrong"
    )


def _mix(text: str) -> tuple[tuple[str, float], ...]:
    kinds = dict(MIX)
    out = []
    for part in text.split(","):
        kind, _, weight = part.rpartition("=")
        if kind.strip() not in kinds:
            raise argparse.ArgumentTypeError(f"unknown request kind {kind!r}; known: {list(kinds)}")
        out.append((kind.strip(), float(weight)))
    return tuple(out)


def main() -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default="67000,1000000", help="store sizes, comma-separated")
    parser.add_argument("--rates", default="5,20,50", help="requests/s of the Poisson runs")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per Poisson run")
    parser.add_argument("--burst", type=int, default=400, help="Approve clicks in the burst")
    parser.add_argument("--burst-clients", type=int, default=20, help="clicks in flight at once")
    parser.add_argument(
        "--bare-rates",
        default="5,20,50",
        help="Poisson rates also sent to the bare Bolt baseline (the burst always is)",
    )
    parser.add_argument(
        "--mix",
        type=_mix,
        default=MIX,
        help="request kinds and weights, e.g. 'Approve click=0.75,/crowdtune review=0.25' "
        "(default: " + ", ".join(f"{k}={w:g}" for k, w in MIX) + ")",
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="every worker builds the near-duplicate index from the table (no snapshot)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample crowdtune's workers with py-spy during each run (raw stacks into DIR)",
    )
    args = parser.parse_args()
    runs: list[Run] = []
    stored: list[Stored] = []
    stores = [
        (kind.strip(), int(size))
        for size in args.examples.split(",")
        if size
        for kind in args.databases.split(",")
        if kind.strip()
    ]
    for i, (kind, size) in enumerate(stores):
        store_runs, store = bench_store(kind, size, args)
        runs.extend(store_runs)
        stored.append(store)
        if i < len(stores) - 1:  # the figures so far, in case a long run is cut short
            print(f"--- after {kind} {size:,} ({i + 1} of {len(stores)} stores) ---")
            report(runs, stored, args)
            print(flush=True)
    report(runs, stored, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
