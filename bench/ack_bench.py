"""Ack latency of the Slack app over HTTP, with 67,000 examples in the store.

For `/crowdtune write`, `/crowdtune review` and an Approve click, 20 concurrent clients send
signed requests to the real WSGI app (Bolt adapter, threaded server) whose Web API calls go
to the local Slack double; the same requests go to a bare Bolt app that only acks. Prints
p50/p99 per request kind and database, side by side, with the ratio. Targets: p99 < 150 ms
and < 3x the bare app.

    .venv/bin/python bench/ack_bench.py [--examples 67000] [--requests 400] [--clients 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import create_engine, insert, select, text

from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.slack.client import build_client
from bot.slack.wsgi import build_wsgi, database_check
from migrations import runner
from store.categories import seed_default_categories
from store.db import make_engine, make_session_factory, session_scope
from store.models import Category, Contributor, Example
from store.validation import content_hash
from tests.slack_double import TEAM_ID, VALID_TOKEN, SlackDouble
from tests.slack_requests import SIGNING_SECRET, settings_for, signed_headers

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P99_MS = 150.0
TARGET_RATIO = 3.0


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve(wsgi: Any) -> Iterator[str]:
    """The WSGI app on a local port, in a thread."""
    server = make_server("127.0.0.1", 0, wsgi, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    finally:
        server.shutdown()
        server.server_close()


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
    engine.dispose()
    return ids


def bare_app(double: SlackDouble) -> App:
    """A Bolt app that only acks, with the same Bolt settings as ours: the floor of an ack."""
    app = App(
        signing_secret=SIGNING_SECRET,
        client=WebClient(token=VALID_TOKEN, base_url=double.api_url),
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/crowdtune")
    def command(ack: Any) -> None:
        ack()

    @app.action("review_approve")
    def approve(ack: Any) -> None:
        ack()

    return app


def command_body(double: SlackDouble, user: str, text_: str, n: int) -> tuple[bytes, str]:
    """A slash command form."""
    form = {
        "team_id": TEAM_ID,
        "user_id": user,
        "user_name": user.lower(),
        "command": "/crowdtune",
        "text": text_,
        "response_url": double.response_url(f"b{n}"),
        "trigger_id": f"trig-{n}",
    }
    return urlencode(form).encode(), "application/x-www-form-urlencoded"


def approve_body(double: SlackDouble, user: str, example_id: int, n: int) -> tuple[bytes, str]:
    """An Approve click."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "trigger_id": f"trig-{n}",
        "response_url": double.response_url(f"a{n}"),
        "container": {"type": "message", "message_ts": "1.1"},
        "channel": {"id": f"D{user}"},
        "state": {"values": {}},
        "actions": [
            {
                "type": "button",
                "action_id": "review_approve",
                "block_id": "decide",
                "value": json.dumps({"id": example_id, "skip": []}),
                "action_ts": "1.1",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


def measure(url: str, bodies: list[tuple[bytes, str]], clients: int) -> list[float]:
    """Latency (ms) of each signed request, sent by `clients` threads at once."""

    def one(item: tuple[bytes, str]) -> float:
        body, ctype = item
        headers = {"Content-Type": ctype, **signed_headers(body)}
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (local server)
            resp.read()
            assert resp.status == 200, resp.status
        return (time.perf_counter() - started) * 1000

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


def run_kind(
    kind: str, examples: int, requests: int, clients: int
) -> list[tuple[str, str, list[float], list[float]]]:
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
        settings = settings_for(url, double)
        rt = Runtime(settings)
        app = build_app(rt, client=build_client(settings))
        kinds: dict[str, Callable[[int], tuple[bytes, str]]] = {
            "/crowdtune write": lambda n: command_body(double, f"UR{n:04d}", "write", n),
            "/crowdtune review": lambda n: command_body(double, f"UR{n:04d}", "review", n),
            "Approve click": lambda n: approve_body(double, f"UR{n:04d}", pending[n], n),
        }
        with (
            serve(build_wsgi(app, database_check(rt.engine))) as real_url,
            serve(build_wsgi(bare_app(double), lambda: None)) as bare_url,
        ):
            # Warm up both (connections, imports), then measure each kind.
            measure(real_url, [command_body(double, "UWARM", "stats", 0)] * clients, clients)
            measure(bare_url, [command_body(double, "UWARM", "stats", 0)] * clients, clients)
            drained = {
                "/crowdtune write": ("views.open", requests),
                "/crowdtune review": ("response_url:b", requests + clients),
                "Approve click": ("response_url:a", requests),
            }
            for name, make in kinds.items():
                bodies = [make(n) for n in range(requests)]
                bare = measure(bare_url, bodies, clients)
                real = measure(real_url, bodies, clients)
                rows.append((kind, name, real, bare))
                # The app works after its ack: let it finish before the next kind starts.
                drain(double, *drained[name])
        rt.close()
    return rows


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=67_000)
    parser.add_argument("--requests", type=int, default=400, help="per request kind")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for kind in args.databases.split(","):
        rows.extend(run_kind(kind.strip(), args.examples, args.requests, args.clients))
    print(
        f"ack latency over HTTP, {args.clients} concurrent clients, {args.requests} requests "
        f"per kind, {args.examples:,} examples in the store"
    )
    header = (
        f"{'database':<11}{'request':<19}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'bare p50':>10}{'bare p99':>10}{'p99 ratio':>11}{'mean ms':>9}  target"
    )
    print(header)
    print("-" * len(header))
    for kind, name, real, bare in rows:
        p99, bare99 = pct(real, 99), pct(bare, 99)
        ratio = p99 / bare99 if bare99 else float("inf")
        ok = p99 < TARGET_P99_MS and ratio < TARGET_RATIO
        print(
            f"{kind:<11}{name:<19}{pct(real, 50):>8.1f}{p99:>8.1f}"
            f"{pct(bare, 50):>10.1f}{bare99:>10.1f}{ratio:>10.2f}x{statistics.mean(real):>9.1f}"
            f"  {'met' if ok else 'MISSED'}"
        )
    print(f"targets: p99 < {TARGET_P99_MS:.0f} ms and < {TARGET_RATIO:.0f}x the bare Bolt app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
