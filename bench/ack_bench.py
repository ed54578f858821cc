"""Ack latency of the Slack app over HTTP, with 67,000 examples in the store.

For `/crowdtune write`, `/crowdtune review` and an Approve click, 20 concurrent clients (in
their own process) send signed requests to `crowdtune serve` (gunicorn, Bolt's WSGI adapter,
and its work process doing the work after each ack) whose Web API calls go to the local Slack
double; the same requests go to a bare Bolt app that only acks (bench/bare_app.py, same
gunicorn settings). Each kind's work is finished before the next kind is measured. Prints
p50/p99 per request kind and database, side by side, with the ratio. Targets: p99 < 150 ms
and < 3x the bare app.

    .venv/bin/python bench/ack_bench.py [--examples 67000] [--requests 400] [--clients 20]
        [--databases sqlite,postgresql] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from bot.slack.standin.web_api import TEAM_ID, VALID_TOKEN, SlackDouble  # noqa: E402
from migrations import runner  # noqa: E402
from store.categories import seed_default_categories  # noqa: E402
from store.db import make_engine, make_session_factory, session_scope  # noqa: E402
from store.models import Category, Contributor, Example  # noqa: E402
from store.validation import content_hash  # noqa: E402
from tests.slack_requests import SIGNING_SECRET, click_payload, command_fields, signed_headers  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P99_MS = 150.0
TARGET_RATIO = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(cmd: list[str], env: dict[str, str], workers: int) -> Iterator[str]:
    """A server process like production's; yields its /slack/events URL once workers boot."""
    port = _free_port()
    env = {**os.environ, **env, "PORT": str(port)}
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers), "--threads", "8"]
        if "serve" in cmd
        else [
            *cmd,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--threads",
            "8",
            "-k",
            "gthread",
            "--access-logfile",
            "-",  # crowdtune serve logs each request too
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # gunicorn's access log
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        booted = 0
        assert proc.stderr is not None
        for line in proc.stderr:
            booted += "Booting worker" in line
            if booted == workers:
                break
        else:
            raise RuntimeError(f"{cmd} did not start (exit {proc.wait()})")
        # Keep reading its log so the pipe never fills and blocks the server.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


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


def fill(url: str, examples: int, pending: int) -> list[int]:
    """Bulk-insert synthetic examples (the last `pending` await review); return pending ids."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as s:
        seed_default_categories(s)
        cats = list(s.scalars(select(Category.id)))
        s.execute(
            insert(Contributor),
            [
                {"team_id": TEAM_ID, "slack_user_id": f"UW{i:04d}", "display_name": f"writer {i}"}
                for i in range(200)
            ],
        )
        authors = list(s.scalars(select(Contributor.id)))
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(examples):
            ins = f"Synthetic instruction number {i}: explain topic {i % 977} clearly."
            resp = f"A synthetic but valid response for example {i}, long enough to pass."
            batch.append(
                {
                    "category_id": cats[i % len(cats)],
                    "instruction": ins,
                    "context": "",
                    "response": resp,
                    "status": "pending" if i >= examples - pending else "approved",
                    "origin": "imported",
                    "author_id": authors[i % len(authors)],
                    "content_hash": content_hash(ins, "", resp),
                    "flags": [],
                    "revision": 1,
                    "review_count": 0,
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(Example), batch)
                batch.clear()
        if batch:
            conn.execute(insert(Example), batch)
    with session_scope(sessions) as s:
        ids = list(
            s.scalars(select(Example.id).where(Example.status == "pending").order_by(Example.id))
        )
    if engine.dialect.name == "postgresql":
        # A store that has been running has statistics; without this, autovacuum analyzes
        # the freshly loaded table in the middle of the first measurement.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return ids


def command_body(double: SlackDouble, user: str, text_: str, n: int) -> tuple[bytes, str]:
    """A slash command form; its reply URL and trigger id name request n."""
    form = command_fields(double, user, text_, response_url=double.response_url(f"b{n}"))
    form["trigger_id"] = f"trig-{n}"  # views.open names it: how results are matched to requests
    return urlencode(form).encode(), "application/x-www-form-urlencoded"


def approve_body(double: SlackDouble, user: str, example_id: int, n: int) -> tuple[bytes, str]:
    """An Approve click on example_id; its reply URL names request n."""
    value = json.dumps({"id": example_id, "skip": []})
    payload = click_payload(
        double, user, "review_approve", value, response_url=double.response_url(f"a{n}")
    )
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


def measure(url: str, bodies: list[tuple[bytes, str]], clients: int) -> list[tuple[float, float]]:
    """When each request was sent (time.monotonic) and its latency (ms), timed in a separate
    client process.

    The double (which receives the app's Web API calls) lives in this process; timing the
    clients elsewhere keeps its load out of the measured latency.
    """
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return list(pool.apply(_measure, (url, bodies, clients)))


def _measure(url: str, bodies: list[tuple[bytes, str]], clients: int) -> list[tuple[float, float]]:
    """Send time and latency (ms) of each signed request, sent by `clients` threads at once."""

    def one(item: tuple[bytes, str]) -> tuple[float, float]:
        body, ctype = item
        headers = {"Content-Type": ctype, **signed_headers(body)}
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        sent = time.monotonic()  # one clock for all processes: compared with Call.at
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (local server)
            resp.read()
            assert resp.status == 200, resp.status
        return sent, (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, bodies))


def drain(double: SlackDouble, prefix: str, count: int) -> None:
    """Wait until the double saw `count` calls whose method starts with `prefix`."""
    with double._lock:
        done = double._lock.wait_for(
            lambda: sum(c.method.startswith(prefix) for c in double.calls) >= count, timeout=120
        )
    if not done:
        print(f"warning: only some {prefix} calls arrived", file=sys.stderr)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Row:
    """One request kind on one database: ack latencies of both apps, and result latencies."""

    database: str
    request: str
    acks: list[float]
    bare_acks: list[float]
    results: list[float]  # ms from sending the request until Slack got its result


def result_key(request: str, n: int) -> tuple[str, str]:
    """How the double records the result of request n: its method, and the trigger id a
    views.open carries (the reply URL already names n)."""
    if request == "/crowdtune write":
        return "views.open", f"trig-{n}"
    return f"response_url:{'b' if request == '/crowdtune review' else 'a'}{n}", ""


def result_latencies(double: SlackDouble, request: str, sent: list[float]) -> list[float]:
    """For each request, ms from sending it until its result reached the double."""
    arrived: dict[tuple[str, str], float] = {}
    for call in double.calls:
        trigger = str(call.args.get("trigger_id", "")) if call.method == "views.open" else ""
        arrived.setdefault((call.method, trigger), call.at)
    out = []
    for n, at in enumerate(sent):
        got = arrived.get(result_key(request, n))
        if got is not None:
            out.append((got - at) * 1000)
    return out


def run_kind(kind: str, examples: int, requests: int, clients: int, workers: int) -> list[Row]:
    """Measure the three request kinds against the app and the bare app on one database."""
    rows = []
    with database(kind) as url, SlackDouble() as double:
        started = time.perf_counter()
        pending = fill(url, examples, pending=max(requests * 2, 5000))
        print(
            f"[{kind}] {examples:,} examples inserted ({len(pending):,} pending) "
            f"in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        env = {
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": VALID_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": double.api_url,
            "CROWDTUNE_LOG_LEVEL": "WARNING",
        }
        kinds: dict[str, Callable[[int], tuple[bytes, str]]] = {
            "/crowdtune write": lambda n: command_body(double, f"UR{n:04d}", "write", n),
            "/crowdtune review": lambda n: command_body(double, f"UR{n:04d}", "review", n),
            "Approve click": lambda n: approve_body(double, f"UR{n:04d}", pending[n], n),
        }
        crowdtune = [sys.executable, "-m", "bot.cli", "serve"]
        bare = [sys.executable, "-m", "gunicorn", "bench.bare_app:create()"]
        with (
            gunicorn(crowdtune, env, workers) as real_url,
            gunicorn(bare, env, workers) as bare_url,
        ):
            # Warm up both (connections, imports), then measure each kind.
            warm = [command_body(double, "UWARM", "stats", -1)] * clients
            measure(real_url, warm, clients)
            measure(bare_url, warm, clients)
            drain(double, "response_url:b", clients)  # the warm-up's work, done after its acks
            drained = {
                "/crowdtune write": ("views.open", requests),
                "/crowdtune review": ("response_url:b", requests + clients),
                "Approve click": ("response_url:a", requests),
            }
            for name, make in kinds.items():
                bodies = [make(n) for n in range(requests)]
                bare_acks = [ms for _, ms in measure(bare_url, bodies, clients)]
                real = measure(real_url, bodies, clients)
                # The app works after its ack: let it finish before the next kind starts.
                drain(double, *drained[name])
                results = result_latencies(double, name, [sent for sent, _ in real])
                rows.append(Row(kind, name, [ms for _, ms in real], bare_acks, results))
    return rows


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=67_000)
    parser.add_argument("--requests", type=int, default=400, help="per request kind")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    args = parser.parse_args()
    rows = []
    for kind in args.databases.split(","):
        rows.extend(
            run_kind(kind.strip(), args.examples, args.requests, args.clients, args.workers)
        )
    print(
        f"ack latency over HTTP, {args.clients} concurrent clients, {args.requests} requests "
        f"per kind, {args.examples:,} examples in the store; both apps on gunicorn "
        f"(gthread, {args.workers} workers x 8 threads)"
    )
    header = (
        f"{'database':<11}{'request':<19}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'bare p50':>10}{'bare p99':>10}{'p99 ratio':>11}{'mean ms':>9}  target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        p99, bare99 = pct(row.acks, 99), pct(row.bare_acks, 99)
        ratio = p99 / bare99 if bare99 else float("inf")
        ok = p99 < TARGET_P99_MS and ratio < TARGET_RATIO
        print(
            f"{row.database:<11}{row.request:<19}{pct(row.acks, 50):>8.1f}{p99:>8.1f}"
            f"{pct(row.bare_acks, 50):>10.1f}{bare99:>10.1f}{ratio:>10.2f}x"
            f"{statistics.mean(row.acks):>9.1f}  {'met' if ok else 'MISSED'}"
        )
    print(f"targets: p99 < {TARGET_P99_MS:.0f} ms and < {TARGET_RATIO:.0f}x the bare Bolt app")
    print()
    print("time until the person sees the result (modal opened, reply posted), from the request:")
    header = f"{'database':<11}{'request':<19}{'done':>6}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        done = f"{len(row.results)}/{len(row.acks)}"
        if not row.results:
            print(f"{row.database:<11}{row.request:<19}{done:>6}")
            continue
        print(
            f"{row.database:<11}{row.request:<19}{done:>6}{pct(row.results, 50):>8.1f}"
            f"{pct(row.results, 99):>8.1f}{max(row.results):>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
