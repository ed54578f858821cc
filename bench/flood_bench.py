"""A flood of unsigned junk at the Slack endpoint while people use the bot normally.

`crowdtune serve` (gunicorn, as in production) runs against the local Slack double with its
log captured. 20 clients send signed `/crowdtune review` commands and Approve clicks; first
alone (the baseline), then while another process sends 2,000 unsigned junk requests (bodies
that are not UTF-8, truncated or deeply nested JSON, huge forms). Prints the clients' ack
p50/p99 in both runs side by side with the ratio, the junk's status codes, and how much the
app's log and gunicorn's access log grew during the flood. Targets: log growth < 100 KB and
flood p99 within 2x of the baseline.

    .venv/bin/python bench/flood_bench.py [--examples 20000] [--requests 400] [--clients 20]
        [--junk 2000] [--databases sqlite,postgresql] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ack_bench import (  # noqa: E402
    _free_port,
    approve_body,
    command_body,
    database,
    fill,
    pct,
)
from bot.slack.standin.web_api import VALID_TOKEN, SlackDouble  # noqa: E402
from tests.slack_requests import SIGNING_SECRET, signed_headers  # noqa: E402

TARGET_LOG_BYTES = 100_000
TARGET_RATIO = 2.0
JUNK_BODIES: list[tuple[bytes, str]] = [
    (b"\xff\xfe\x00 not utf-8 \x80\x81", "application/x-www-form-urlencoded"),
    (b"payload=%7B%22type%22%3A%22block_act", "application/x-www-form-urlencoded"),
    (b"[" * 20_000, "application/json"),
    (b"payload=" + b"%5B" * 3_000, "application/x-www-form-urlencoded"),
    (b'{"type": "event_callback", "event": 5}', "application/json"),
    (b"command=/crowdtune&text=" + b"x" * 20_000, "application/x-www-form-urlencoded"),
]


@dataclass
class Server:
    """A running `crowdtune serve` and the files its logs go to."""

    url: str
    app_log: Path
    access_log: Path

    def log_sizes(self) -> tuple[int, int]:
        """Bytes in the app's log (stderr) and in the access log (stdout) so far."""
        return self.app_log.stat().st_size, self.access_log.stat().st_size


@contextmanager
def serve(env: dict[str, str], workers: int, logs: Path) -> Iterator[Server]:
    """`crowdtune serve` on a free port, logs to files; yields once its workers boot."""
    port = _free_port()
    app_log, access_log = logs / "app.log", logs / "access.log"
    with app_log.open("wb") as err, access_log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--workers", str(workers), "--threads", "8"],
            cwd=ROOT,
            env={**os.environ, **env, "PORT": str(port)},
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 120
        while app_log.read_text(errors="replace").count("Booting worker") < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{app_log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Server(f"http://127.0.0.1:{port}/slack/events", app_log, access_log)
    except BaseException:
        print(app_log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (local server)
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def _clients(url: str, bodies: list[tuple[bytes, str]], clients: int) -> list[float]:
    """Ack latency (ms) of each signed request, `clients` at a time; all must be 200."""

    def one(item: tuple[bytes, str]) -> float:
        body, ctype = item
        started = time.perf_counter()
        status = _post(url, body, {"Content-Type": ctype, **signed_headers(body)})
        assert status == 200, status
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, bodies))


def _flood(url: str, count: int, threads: int) -> dict[int, int]:
    """Send `count` unsigned junk requests (a fresh numeric timestamp each); status counts."""

    def one(n: int) -> int:
        body, ctype = JUNK_BODIES[n % len(JUNK_BODIES)]
        headers = {"Content-Type": ctype, "X-Slack-Request-Timestamp": str(int(time.time()))}
        if n % 2:
            headers["X-Slack-Signature"] = "v0=" + "0" * 64
        return _post(url, body, headers)

    with ThreadPoolExecutor(threads) as pool:
        return dict(Counter(pool.map(one, range(count))))


def _in_process(fn: object, *args: object) -> object:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)  # type: ignore[arg-type]


@dataclass
class Result:
    """One database's figures."""

    database: str
    baseline: list[float]
    flooded: list[float]
    junk: dict[int, int]
    app_log_growth: int
    access_log_growth: int


def run_kind(kind: str, args: argparse.Namespace) -> Result:
    """Baseline, then the same load under the flood, on one database."""
    with database(kind) as url, SlackDouble() as double, tempfile.TemporaryDirectory() as tmp:
        pending = fill(url, args.examples, pending=args.requests * 2 + 100)
        env = {
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": VALID_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": double.api_url,
        }

        def load(offset: int, count: int) -> list[tuple[bytes, str]]:
            # Half review commands, half Approve clicks on examples nobody clicked yet.
            bodies = []
            for n in range(count):
                user = f"UR{n % args.clients:04d}"
                if n % 2:
                    bodies.append(approve_body(double, user, pending[offset + n], offset + n))
                else:
                    bodies.append(command_body(double, user, "review", offset + n))
            return bodies

        with serve(env, args.workers, Path(tmp)) as server:
            _in_process(_clients, server.url, load(args.requests * 2, 40), args.clients)  # warm
            baseline = _in_process(_clients, server.url, load(0, args.requests), args.clients)
            before = server.log_sizes()
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(1) as flood_pool:
                flood = flood_pool.apply_async(_flood, (server.url, args.junk, args.flood_threads))
                flooded = _in_process(
                    _clients, server.url, load(args.requests, args.requests), args.clients
                )
                junk = flood.get(timeout=600)
            time.sleep(1.0)  # let the last log lines reach the files
            after = server.log_sizes()
    return Result(
        kind,
        list(baseline),  # type: ignore[call-overload]
        list(flooded),  # type: ignore[call-overload]
        junk,
        after[0] - before[0],
        after[1] - before[1],
    )


def main() -> int:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=400, help="per run, over all clients")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--junk", type=int, default=2_000)
    parser.add_argument("--flood-threads", type=int, default=8)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = [run_kind(k.strip(), args) for k in args.databases.split(",")]
    print(
        f"{args.clients} clients x {args.requests} signed requests (review commands, Approve "
        f"clicks), alone and under a flood of {args.junk:,} unsigned junk requests "
        f"({args.flood_threads} senders); crowdtune serve, {args.workers} gunicorn workers"
    )
    header = (
        f"{'database':<11}{'base p50':>9}{'base p99':>9}{'flood p50':>10}{'flood p99':>10}"
        f"{'p99 ratio':>10}{'app log +':>11}{'access log +':>13}  junk statuses"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for r in results:
        p99b, p99f = pct(r.baseline, 99), pct(r.flooded, 99)
        ratio = p99f / p99b if p99b else float("inf")
        ok &= ratio <= TARGET_RATIO and r.app_log_growth < TARGET_LOG_BYTES
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.junk.items()))
        print(
            f"{r.database:<11}{pct(r.baseline, 50):>9.1f}{p99b:>9.1f}{pct(r.flooded, 50):>10.1f}"
            f"{p99f:>10.1f}{ratio:>9.2f}x{r.app_log_growth:>10,}B{r.access_log_growth:>12,}B"
            f"  {statuses}"
        )
    print(
        f"targets: app log growth < {TARGET_LOG_BYTES:,} B, flood p99 <= {TARGET_RATIO:.0f}x "
        f"baseline p99: {'met' if ok else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
