"""A local Slack Socket Mode double: a WebSocket server (RFC 6455) the real slack_sdk client joins.

In Socket Mode the app asks the Web API for a URL (apps.connections.open, answered by
`SlackDouble`), opens a WebSocket to it, and Slack says `hello`; then Slack sends envelopes
(`slash_commands`, `interactive`, `events_api`) and the app acks each by sending back
`{"envelope_id": ...}`. This double is Slack's side of that socket on 127.0.0.1, standard
library only: a test waits for the app to connect, sends envelopes and waits for their acks.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
APP_ID = "A0CROWD"
HOST = "applink-double-1"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005
CLOSE_TOO_BIG = 1009

MAX_MESSAGE = 1 << 20  # Slack's messages are far smaller; a bigger one is a broken client
HANDSHAKE_TIMEOUT = 10.0

T = TypeVar("T")


class ProtocolError(Exception):
    """The peer broke RFC 6455; `code` is the close status to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455, section 4.2.2)."""
    digest = hashlib.sha1((key + WS_GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR `data` with the 4-byte `mask` repeated (masking and unmasking are the same)."""
    if not data:
        return b""
    # One big-integer XOR instead of a Python loop over every byte.
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def encode_frame(
    opcode: int, payload: bytes, *, mask: bytes | None = None, fin: bool = True
) -> bytes:
    """One frame: servers send theirs unmasked, clients mask theirs with a 4-byte key."""
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask is not None else 0
    size = len(payload)
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += struct.pack("!BH", mask_bit | 126, size)
    else:
        head += struct.pack("!BQ", mask_bit | 127, size)
    if mask is None:
        return head + payload
    return head + mask + apply_mask(payload, mask)


@dataclass(frozen=True)
class Frame:
    """One frame as read, its payload unmasked."""

    fin: bool
    opcode: int
    masked: bool
    payload: bytes


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise EOFError(f"stream ended inside a frame ({len(data)} of {size} bytes)")
    return data


def read_frame(stream: BinaryIO) -> Frame | None:
    """The next frame from `stream`; None when the stream ends between frames."""
    head = stream.read(2)
    if not head:
        return None
    if len(head) < 2:
        raise EOFError("stream ended inside a frame header")
    b1, b2 = head
    if b1 & 0x70:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
    size = b2 & 0x7F
    if size == 126:
        size = struct.unpack("!H", _read_exactly(stream, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _read_exactly(stream, 8))[0]
    if size > MAX_MESSAGE:
        raise ProtocolError(CLOSE_TOO_BIG, f"frame of {size} bytes")
    mask = _read_exactly(stream, 4) if b2 & 0x80 else None
    payload = _read_exactly(stream, size)
    if mask is not None:
        payload = apply_mask(payload, mask)
    return Frame(bool(b1 & 0x80), b1 & 0x0F, mask is not None, payload)


def handshake_problem(method: str, version: str, headers: dict[str, str]) -> str | None:
    """Why an HTTP request is not a WebSocket opening handshake (RFC 6455, 4.2.1); None if it is."""
    if method != "GET" or version != "HTTP/1.1":
        return f"expected GET over HTTP/1.1, got {method} {version}"
    if headers.get("upgrade", "").lower() != "websocket":
        return "Upgrade: websocket missing"
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        return "Connection: Upgrade missing"
    if headers.get("sec-websocket-version") != "13":
        return "Sec-WebSocket-Version: 13 missing"
    try:
        key = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 16:
        return "Sec-WebSocket-Key is not 16 bytes in base64"
    return None


@dataclass(frozen=True)
class Ack:
    """The app's answer to one envelope."""

    envelope_id: str
    payload: dict[str, Any] | None  # what an envelope accepting a response payload got back
    seconds: float | None  # from sending the envelope to receiving this; None if never sent


class SocketConnection:
    """One app connection after its handshake: send what Slack sends, read what the app sends."""

    def __init__(
        self, owner: SocketModeDouble, sock: socket.socket, path: str, headers: dict[str, str]
    ) -> None:
        self.path = path  # the request target, e.g. /link/?ticket=...&app_id=...
        self.headers = headers
        self.messages: list[dict[str, Any]] = []  # the app's text frames (JSON), in order
        self.acks: list[Ack] = []
        self.pings: list[bytes] = []  # the app's pings, each answered with a pong
        self.pongs: list[bytes] = []  # the app's answers to our pings
        self.close_code: int | None = None  # set once the connection ended
        self._owner = owner
        self._sock = sock
        self._sent_at: dict[str, float] = {}
        self._send_lock = threading.Lock()
        self._close_sent = False
        self._serial = itertools.count(1)

    # --- what Slack sends ---
    def send_json(self, message: dict[str, Any]) -> None:
        """One text frame holding `message`."""
        self._send(OP_TEXT, json.dumps(message).encode("utf-8"))

    def hello(self, num_connections: int = 1) -> None:
        """Slack's first message on every new connection."""
        self.send_json(
            {
                "type": "hello",
                "num_connections": num_connections,
                "debug_info": {
                    "host": HOST,
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self._owner.app_id},
            }
        )

    def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        envelope_id: str | None = None,
        **extra: Any,
    ) -> str:
        """Send an envelope (`slash_commands`, `interactive`, `events_api`); its id is returned."""
        envelope_id = envelope_id or f"env-{next(self._serial)}-{uuid.uuid4().hex[:12]}"
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
            **extra,
        }
        with self._owner.changed:
            self._sent_at[envelope_id] = time.monotonic()  # before sending: the ack may be quick
        self.send_json(message)
        return envelope_id

    def ping(self, payload: bytes = b"double") -> None:
        """A ping frame; the app's pong lands in `pongs`."""
        self._send(OP_PING, payload)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake (the app may answer with its own close or just hang up)."""
        self._send_close(code, reason)

    # --- waiting for the app ---
    def wait_for_ack(self, envelope_id: str, *, timeout: float = 10.0) -> Ack:
        """Block until the app acks `envelope_id`; the ack carries how long it took."""
        return self._owner.wait(
            lambda: next((a for a in self.acks if a.envelope_id == envelope_id), None),
            timeout,
            f"the ack of {envelope_id}",
        )

    def wait_closed(self, *, timeout: float = 10.0) -> int:
        """Block until the connection ended; its close status (1005 when none was given)."""
        return self._owner.wait(lambda: self.close_code, timeout, "connection to end")

    # --- frames ---
    def _send(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            self._sock.sendall(encode_frame(opcode, payload))

    def _send_close(self, code: int, reason: str) -> None:
        with self._send_lock:
            if self._close_sent:
                return
            self._close_sent = True
            # Always with a status code: slack_sdk's reader stalls on frames of 2 bytes or less.
            data = struct.pack("!H", code) + reason.encode("utf-8")[:123]
            with contextlib.suppress(OSError):
                self._sock.sendall(encode_frame(OP_CLOSE, data))

    def _received(self, text: str) -> None:
        message = json.loads(text)
        with self._owner.changed:
            self.messages.append(message)
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            if envelope_id is not None:
                sent = self._sent_at.get(envelope_id)
                seconds = None if sent is None else time.monotonic() - sent
                self.acks.append(Ack(envelope_id, message.get("payload"), seconds))
            self._owner.changed.notify_all()

    def _control(self, frame: Frame) -> bool:
        """Answer a control frame; False when it closed the connection."""
        if not frame.fin or len(frame.payload) > 125:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frames are final and short")
        if frame.opcode == OP_PING:
            self._send(OP_PONG, frame.payload)
            self._note(self.pings, frame.payload)
            return True
        if frame.opcode == OP_PONG:
            self._note(self.pongs, frame.payload)
            return True
        if frame.opcode == OP_CLOSE:
            code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else None
            self._send_close(code or CLOSE_NORMAL, "")
            self._ended(code or CLOSE_NO_STATUS)
            return False
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown control opcode {frame.opcode:#x}")

    def _note(self, into: list[bytes], payload: bytes) -> None:
        with self._owner.changed:
            into.append(payload)
            self._owner.changed.notify_all()

    def _ended(self, code: int) -> None:
        with self._owner.changed:
            if self.close_code is None:
                self.close_code = code
            self._owner.changed.notify_all()

    def read_until_closed(self, stream: BinaryIO) -> None:
        """Read the app's frames until it closes or hangs up (the connection's thread)."""
        parts: list[bytes] = []
        kind: int | None = None  # opcode of the message being reassembled from fragments
        try:
            while (frame := read_frame(stream)) is not None:
                if not frame.masked:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
                if frame.opcode & 0x8:
                    if self._control(frame):
                        continue
                    return
                if (frame.opcode == OP_CONTINUATION) != (kind is not None):
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragments out of order")
                kind = frame.opcode if kind is None else kind
                parts.append(frame.payload)
                if sum(map(len, parts)) > MAX_MESSAGE:
                    raise ProtocolError(CLOSE_TOO_BIG, "message too big")
                if not frame.fin:
                    continue
                data, parts, opcode, kind = b"".join(parts), [], kind, None
                if opcode != OP_TEXT:
                    raise ProtocolError(CLOSE_UNSUPPORTED_DATA, "Slack reads text frames only")
                self._received(data.decode("utf-8"))
        except ProtocolError as exc:
            self._send_close(exc.code, str(exc))
            self._ended(exc.code)
        except (OSError, EOFError, ValueError):
            pass  # a dropped connection (or broken JSON) ends it like a hang-up
        finally:
            self._ended(CLOSE_NO_STATUS)  # no-op when a close status was already recorded
            self.shutdown()

    def shutdown(self) -> None:
        """Drop the TCP connection (wakes the reading thread)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class SocketModeDouble:
    """Slack's Socket Mode endpoint on an ephemeral port; use as a context manager."""

    def __init__(self, *, app_id: str = APP_ID, ping_every: float | None = None) -> None:
        self.app_id = app_id
        # Slack pings its clients now and then; given a period, the double pings each one too.
        self.ping_every = ping_every
        self.connections: list[SocketConnection] = []
        self.refused: list[str] = []  # why handshakes were refused
        self.changed = threading.Condition()  # notified on every connection, message and close
        self._aborted: str | None = None
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ---
    def start(self) -> SocketModeDouble:
        """Listen on 127.0.0.1 and accept connections in a daemon thread."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._spawn(self._accept_loop, self._listener)
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for conn in list(self.connections):
            conn.shutdown()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> SocketModeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._listener is not None, "start() the double first"
        return int(self._listener.getsockname()[1])

    def url(self) -> str:
        """A connection URL like the one apps.connections.open returns, with a fresh ticket."""
        return f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}&app_id={self.app_id}"

    # --- waiting ---
    def wait_for_connection(self, count: int = 1, *, timeout: float = 10.0) -> SocketConnection:
        """Block until `count` connections were opened; the latest one."""
        return self.wait(
            lambda: self.connections[-1] if len(self.connections) >= count else None,
            timeout,
            f"{count} connection(s) (refused: {self.refused})",
        )

    def wait(self, found: Callable[[], T | None], timeout: float, what: str) -> T:
        """Block until `found()` is not None (woken by each change, not by polling)."""
        with self.changed:
            self.changed.wait_for(lambda: found() is not None or self._aborted, timeout)
            result = found()
            assert self._aborted is None or result is not None, f"{what}: {self._aborted}"
        assert result is not None, f"waited {timeout} s for {what}"
        return result

    def abort(self, reason: str) -> None:
        """Fail every wait now and from now on, e.g. because the app under test exited."""
        with self.changed:
            self._aborted = reason
            self.changed.notify_all()

    # --- serving ---
    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # stop() closed the listener
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        stream = sock.makefile("rb")
        # Each frame goes out at once: Nagle would hold an envelope back behind an unacked hello.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.settimeout(HANDSHAKE_TIMEOUT)
            opened = self._handshake(sock, stream)
            if opened is None:
                sock.close()
                return
            sock.settimeout(None)  # frames may be minutes apart; stop() shuts the socket down
            conn = SocketConnection(self, sock, *opened)
            with self.changed:
                self.connections.append(conn)
                self.changed.notify_all()
            if self.ping_every is not None:
                self._spawn(self._keep_pinging, conn, self.ping_every)
            conn.read_until_closed(stream)
        except OSError:
            sock.close()
        finally:
            stream.close()

    def _keep_pinging(self, conn: SocketConnection, period: float) -> None:
        while True:
            with self.changed:  # the period is the wait's timeout: an ended connection stops it
                if self.changed.wait_for(lambda: conn.close_code is not None, period):
                    return
            try:
                conn.ping(b"keepalive")
            except OSError:
                return

    def _handshake(
        self, sock: socket.socket, stream: BinaryIO
    ) -> tuple[str, dict[str, str]] | None:
        """Read the opening handshake and answer 101, or 400 with the problem."""
        request = stream.readline(8192).decode("latin-1").split()
        headers: dict[str, str] = {}
        while line := stream.readline(8192).decode("latin-1").rstrip("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, path, version = request if len(request) == 3 else ("", "", "")
        problem = handshake_problem(method, version, headers)
        if problem is not None:
            with self.changed:  # recorded before the client can read the answer
                self.refused.append(problem)
                self.changed.notify_all()
            body = problem.encode()
            sock.sendall(
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return None
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(headers['sec-websocket-key'])}\r\n\r\n"
            ).encode("ascii")
        )
        return path, headers
