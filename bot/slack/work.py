"""The work after each ack, done in processes of their own so that acks never wait for it.

Listeners ack in gunicorn's request threads and leave the rest to Bolt lazy listeners
(`handlers.common.lazily`). Run in the same process, that work holds the GIL the acks need:
under load the acks' p99 was 2.6-4x a bare Bolt app's on PostgreSQL (bench/ack_bench.py).
In HTTP mode `crowdtune serve` therefore starts work processes (as many as gunicorn
workers); each gunicorn worker forwards the lazy part of a request to one of them in turn
(raw body and headers, the way Bolt's AWS Lambda adapter re-invokes itself), and the work
process dispatches it to the same listeners. When no work process can be reached, the work
runs in the worker's own threads instead: slower acks, nothing lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from slack_bolt import App
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.request import BoltRequest

from bot.config import Settings, configure_logging
from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.slack.handlers.common import AFTER_ACK_KEY

log = logging.getLogger(__name__)

# Lower CPU priority of the work process: under load the OS runs the acks first.
WORK_NICENESS = 10
# Threads of the work process; the work mostly waits on the database and Slack.
WORK_PROCESS_THREADS = 8
# After a failed connection, forward again only after this long (work runs locally meanwhile).
RECONNECT_SECONDS = 5.0
# How long the work process waits, once told to stop, for gunicorn's workers to hang up.
DRAIN_SECONDS = 30.0
START_TIMEOUT_SECONDS = 60.0
# How long a closing runner waits to hand over what is queued.
CLOSE_TIMEOUT_SECONDS = 10.0
# What the work process prints on stdout once it listens.
READY = "crowdtune-work ready"
# Bolt reads these headers to run one named lazy listener and skip the ack.
LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_NAME = "x-slack-bolt-lazy-function-name"


@dataclass(frozen=True)
class WorkAddress:
    """Where the work processes listen: Unix sockets in a private folder, and their auth key."""

    paths: tuple[str, ...]
    authkey: bytes


def forwarded(request: BoltRequest, lazy_function_name: str) -> dict[str, Any]:
    """What a work process needs to run one lazy listener of `request`: plain, picklable data."""
    headers = {k: list(v) for k, v in request.headers.items()}
    headers[LAZY_ONLY] = ["1"]
    headers[LAZY_NAME] = [lazy_function_name]
    context = {}
    if request.context.get(AFTER_ACK_KEY) is not None:
        context[AFTER_ACK_KEY] = request.context[AFTER_ACK_KEY]
    return {"body": request.raw_body, "headers": headers, "context": context}


class _Peer:
    """One work process as a sender sees it: a connection, opened again after failures."""

    def __init__(self, path: str, authkey: bytes) -> None:
        self.path = path
        self.authkey = authkey
        self.conn: Connection | None = None
        self.retry_at = 0.0

    def send(self, message: bytes) -> bool:
        """Send one pickled message; False when this work process cannot take it now."""
        if self.conn is None:
            if time.monotonic() < self.retry_at:
                return False
            try:
                self.conn = Client(self.path, family="AF_UNIX", authkey=self.authkey)
            except (OSError, multiprocessing.AuthenticationError) as exc:
                self._failed(f"work process {self.path} unreachable ({exc})")
                return False
        try:
            self.conn.send_bytes(message)
        except (OSError, ValueError) as exc:
            self._failed(f"lost work process {self.path} ({exc})")
            return False
        return True

    def _failed(self, why: str) -> None:
        log.warning("%s; trying again in %.0f s", why, RECONNECT_SECONDS)
        self.close()
        self.retry_at = time.monotonic() + RECONNECT_SECONDS

    def close(self) -> None:
        """Hang up (the work process finishes what it got)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class ForwardingRunner(LazyListenerRunner):
    """Bolt's lazy-listener runner for gunicorn workers: hands each lazy call to a work process.

    `start` only queues (the ack never waits on a socket); one sender thread per process
    forwards to the work processes in turn. When none of them can take a call, it is
    dispatched here instead, in the app's own threads, exactly as a work process would.
    """

    def __init__(self, address: WorkAddress, app: App) -> None:
        self.app = app
        self.logger = app.logger
        self._peers = [_Peer(path, address.authkey) for path in address.paths]
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self.forwarded = 0  # lazy calls sent to a work process
        self.ran_here = 0  # lazy calls run in this process because none could take them

    def start(self, function: Callable[..., None], request: Any) -> None:
        """Queue the lazy call for forwarding; `request` is `forwarded()`'s message (see
        `forward_work`), not a copy of the BoltRequest."""
        with self._lock:
            if self._sender is None:  # started in the process that uses it
                self._sender = threading.Thread(
                    target=self._send_loop, name="slack-work-forward", daemon=True
                )
                self._sender.start()
        self._queue.put(request)

    def close(self) -> None:
        """Forward what is queued, then hang up (the work processes finish what they got)."""
        with self._lock:
            sender = self._sender
        if sender is not None:
            self._queue.put(None)
            sender.join(CLOSE_TIMEOUT_SECONDS)

    def _send_loop(self) -> None:
        turn = 0
        while (message := self._queue.get()) is not None:
            try:
                data = pickle.dumps(message)
            except Exception:  # this thread must outlive any one message, or work stops
                log.exception("cannot forward a lazy call; working on it in this process")
                data = b""
            count = len(self._peers)
            if data and any(self._peers[(turn + k) % count].send(data) for k in range(count)):
                self.forwarded += 1
            else:
                self.ran_here += 1
                self.app.listener_runner.listener_executor.submit(_dispatch, self.app, message)
            turn += 1
        for peer in self._peers:
            peer.close()


def forward_work(app: App, address: WorkAddress) -> ForwardingRunner:
    """Make `app` forward its lazy listeners to the work processes at `address`."""
    runner = ForwardingRunner(address, app)
    listener_runner = app.listener_runner
    listener_runner.lazy_listener_runner = runner
    # Bolt deep-copies the whole request for each lazy listener, in the request thread: two
    # thirds of an Approve ack's CPU (0.22 ms against a bare ack's 0.08). The work process
    # needs only the raw body, the headers and what the ack left in the context.
    listener_runner._build_lazy_request = forwarded  # type: ignore[method-assign,assignment]
    return runner


class Stop(Exception):
    """Raised in a process's main thread by a stop signal (see `raise_stop`)."""


def raise_stop(_signum: int, _frame: FrameType | None) -> None:
    """Signal handler: stop the main thread's wait by raising Stop."""
    raise Stop


def run_work_process(
    settings: Settings, path: str, authkey: bytes, ready: Callable[[], None]
) -> None:
    """The work process: accept gunicorn workers' connections and run what they forward.

    On SIGTERM or SIGINT it stops accepting, reads every connection until its worker hangs up
    (gunicorn stops its workers first), finishes the work it got and exits.
    """
    configure_logging(settings.log_level)
    os.nice(WORK_NICENESS)
    rt = Runtime(settings)
    app = build_app(rt, verify_signatures=False)  # only our own workers reach the socket
    pool = ThreadPoolExecutor(WORK_PROCESS_THREADS, thread_name_prefix="slack-work")
    readers: list[threading.Thread] = []
    listener = Listener(path, family="AF_UNIX", authkey=authkey)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, raise_stop)
    log.info("work process %d ready, %d threads", os.getpid(), WORK_PROCESS_THREADS)
    ready()
    try:
        while True:
            try:
                conn = listener.accept()
            except multiprocessing.AuthenticationError as exc:
                log.warning("refused a connection to the work process: %s", exc)
                continue
            reader = threading.Thread(target=_read, args=(conn, app, pool), daemon=True)
            reader.start()
            readers.append(reader)
    except Stop:
        log.info("work process stopping; finishing forwarded work")
    finally:
        # Ctrl-C reaches this process and then serve's SIGTERM follows: one stop is enough.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
        listener.close()
        deadline = time.monotonic() + DRAIN_SECONDS
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        pool.shutdown(wait=True)
        rt.close()


def _read(conn: Connection, app: App, pool: ThreadPoolExecutor) -> None:
    """Run each request forwarded on `conn` until the worker hangs up."""
    with conn:
        while True:
            try:
                message = pickle.loads(conn.recv_bytes())  # noqa: S301 (authenticated peer)
            except (EOFError, OSError):
                return
            pool.submit(_dispatch, app, message)


def _dispatch(app: App, message: dict[str, Any]) -> None:
    request = BoltRequest(
        body=message["body"], headers=message["headers"], context=message["context"]
    )
    app.dispatch(request)  # errors are logged and told to the person by `friendly`


def main() -> None:
    """Entry of a work process: settings, socket path and key arrive pickled on stdin."""
    settings, path, authkey = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 (our parent)

    def ready() -> None:
        sys.stdout.write(f"{READY}\n")
        sys.stdout.flush()

    run_work_process(settings, path, authkey, ready)


class WorkProcess:
    """Start the work processes, give their address to gunicorn, stop them after gunicorn.

    Plain child processes (not multiprocessing's): gunicorn forks its workers from this
    process, and they must inherit nothing that would try to manage the children.
    """

    def __init__(self, settings: Settings, processes: int = 1) -> None:
        if processes < 1:
            raise ValueError("at least one work process")
        self.settings = settings
        self._folder = tempfile.mkdtemp(prefix="crowdtune-work-")  # 0700: ours only
        self.address = WorkAddress(
            tuple(str(Path(self._folder) / f"work-{i}.sock") for i in range(processes)),
            secrets.token_bytes(32),
        )
        self._owner = os.getpid()  # gunicorn's workers leave this `with` block too
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of the work processes."""
        return [p.pid for p in self._processes]

    def __enter__(self) -> WorkProcess:
        for path in self.address.paths:
            process = subprocess.Popen(
                [sys.executable, "-c", "from bot.slack.work import main; main()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self._processes.append(process)
            assert process.stdin is not None
            process.stdin.write(pickle.dumps((self.settings, path, self.address.authkey)))
            process.stdin.close()
        for process in self._processes:
            assert process.stdout is not None
            readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
            line = process.stdout.readline() if readable else b""
            process.stdout.close()
            if line.strip() != READY.encode():
                self.stop()
                raise RuntimeError("a work process did not start (see the log above)")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Ask the work processes to finish and wait (each killed after the drain timeout)."""
        if os.getpid() != self._owner:
            return
        running = [p for p in self._processes if p.poll() is None]
        for process in running:
            process.terminate()  # SIGTERM: it drains first
        for process in running:
            try:
                process.wait(DRAIN_SECONDS + 30)
            except subprocess.TimeoutExpired:
                log.error("work process %d did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)
