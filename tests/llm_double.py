"""A local OpenAI-compatible HTTP server for tests and benchmarks: records every request body
and answers from a script (normal JSON, latency, 429, 500, malformed, refusal, ...)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_VOCAB = (
    "river mountain ledger invoice quarterly robot garden harbor violin orbit canyon lantern "
    "pepper glacier compass meadow archive beacon cobalt dune ember falcon granite hazel iris "
    "jasmine kettle lagoon maple nectar oasis prairie quartz raven saffron tundra umbra velvet "
    "willow yonder zephyr anchor bramble cedar delta echo fjord grove hollow islet juniper kelp "
    "lotus mesa nimbus opal pine quill reef sierra thistle upland vale wren yarrow zinc acorn "
    "basalt cinder dawn estuary fern gale heron ivy jade kiln lichen marsh nook onyx pebble"
)
WORDS = tuple(_VOCAB.split())


@dataclass
class Reply:
    """One scripted answer. `content` is the assistant text; `status` other than 200 sends an
    error body; `hang` holds the request until the server stops (for timeouts). `raw` is sent
    as the whole body with `content_type`; `usage` replaces the usage object (None drops it);
    `trickle` sends the body one byte per that many seconds (a slow, stalling server)."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    latency: float = 0.0
    hang: bool = False
    finish_reason: str = "stop"
    refusal: str | None = None
    prompt_tokens: int = 100
    completion_tokens: int = 200
    raw: bytes | None = None
    content_type: str = "application/json"
    usage: Any = "default"
    trickle: float = 0.0


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def generated_examples(slug: str, n: int, seed: int, needs_context: bool) -> list[dict[str, str]]:
    """`n` distinct, valid examples of a category: random word salad differs at ROUGE-L level."""
    rng = random.Random(f"{slug}:{seed}")
    out = []
    for _ in range(n):
        context = _sentence(rng, 40) + "." if needs_context else ""
        out.append(
            {
                "instruction": f"Explain how the {_sentence(rng, 8).lower()} works?",
                "context": context,
                "response": _sentence(rng, 25) + ".",
            }
        )
    return out


def default_reply(body: dict[str, Any]) -> Reply:
    """Answer what the prompt asks for: N examples of the category named in it."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    slug = re.search(r"^Category: .*\((\w+)\)$", user, re.M)
    n = re.search(r"Write (\d+) new", user)
    needs_context = "MUST include a self-contained reference text" in user
    examples = generated_examples(
        slug.group(1) if slug else "x",
        int(n.group(1)) if n else 1,
        int(body.get("seed", 0)),
        needs_context,
    )
    return Reply(content=json.dumps({"examples": examples}))


class LlmDouble:
    """The server: `script` answers in order, then `responder` (default_reply) for the rest."""

    def __init__(self, latency: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.script: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] = default_reply
        self.latency = latency
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Concurrency probe: requests not yet answered, now and at most. With `hold_until`
        # set, a request is answered only once that many are waiting (or all `expect_total`
        # have arrived), so the overlap seen does not depend on timing.
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrived = 0
        self.hold_until: int | None = None
        self.expect_total = 0
        self._flight = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """What to pass as the client's base_url."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def push(self, *replies: Reply) -> None:
        """Queue replies for the next requests."""
        self.script.extend(replies)

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self.script:
                return self.script.popleft()
        return self.responder(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    with double._flight:
                        double.in_flight += 1  # balanced by _send
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                with double._lock:
                    double.raw_bodies.append(raw)
                body = json.loads(raw)
                with double._flight:
                    double.in_flight += 1
                    double.arrived += 1
                    double.max_in_flight = max(double.max_in_flight, double.in_flight)
                    double._flight.notify_all()
                    if double.hold_until:
                        double._flight.wait_for(
                            lambda: (
                                double.in_flight >= (double.hold_until or 0)
                                or double.arrived >= double.expect_total
                            ),
                            timeout=10,
                        )
                self._answer(body)

            def _answer(self, body: dict[str, Any]) -> None:
                reply = double._next(body)
                if reply.hang:
                    double._stopping.wait(30)
                    return
                delay = reply.latency or double.latency
                if delay:
                    time.sleep(delay)
                if reply.raw is not None:
                    self._send_raw(reply.status, reply.raw, reply)
                    return
                if reply.status != 200:
                    payload = reply.body or {
                        "error": {"message": f"scripted {reply.status}", "type": "scripted"}
                    }
                    self._send(reply.status, payload, reply.headers)
                    return
                message: dict[str, Any] = {"role": "assistant", "content": reply.content}
                if reply.refusal is not None:
                    message["refusal"] = reply.refusal
                answer: dict[str, Any] = {
                    "id": f"chatcmpl-{len(double.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "double"),
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": reply.finish_reason}
                    ],
                    "usage": {
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                    },
                }
                if reply.usage is None:
                    del answer["usage"]
                elif reply.usage != "default":
                    answer["usage"] = reply.usage
                if reply.trickle:
                    self._send_raw(200, json.dumps(answer).encode(), reply)
                    return
                self._send(200, answer, reply.headers)

            def _send_raw(self, status: int, data: bytes, reply: Reply) -> None:
                with double._flight:
                    double.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if not reply.trickle:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    # One byte at a time until the client hangs up or the server stops.
                    if double._stopping.wait(reply.trickle):
                        return
                    try:
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                # Answered from here on: the client may send its next request once it reads this.
                with double._flight:
                    double.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def start(self) -> LlmDouble:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests and shut down."""
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_double(latency: float = 0.0) -> Iterator[LlmDouble]:
    """A started double, stopped afterwards."""
    double = LlmDouble(latency).start()
    try:
        yield double
    finally:
        double.stop()


def serve_main() -> None:
    """`python -m tests.llm_double --latency S`: serve until killed, print the base URL."""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    double = LlmDouble(args.latency)
    print(double.base_url, flush=True)
    double.server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    serve_main()
