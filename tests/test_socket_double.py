"""The Socket Mode double speaks RFC 6455 and refuses what the RFC refuses, so the end-to-end
Socket Mode tests (slack_sdk's own client in `crowdtune serve`) mean something. Here a raw
client checks what that client never does: pings from the server, fragments, unmasked frames."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from bot.slack.standin.socket_mode import (
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Frame,
    SocketModeDouble,
    accept_key,
    encode_frame,
    read_frame,
)


class RawClient:
    """A minimal WebSocket client over a socket: masks what it sends, as clients must."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream = sock.makefile("rb")

    def send(self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> None:
        """One frame, masked with a fresh key unless told not to."""
        mask = os.urandom(4) if masked else None
        self.sock.sendall(encode_frame(opcode, payload, mask=mask, fin=fin))

    def receive(self) -> Frame:
        """The server's next frame."""
        frame = read_frame(self.stream)
        assert frame is not None, "the server hung up"
        assert not frame.masked  # servers never mask
        return frame


@contextmanager
def _connect(port: int) -> Iterator[RawClient]:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                "GET /link/?ticket=t1&app_id=A0CROWD HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        client = RawClient(sock)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += client.stream.read(1)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert f"Sec-WebSocket-Accept: {accept_key(key)}\r\n".encode() in head
        yield client


def test_a_request_that_is_not_a_websocket_handshake_gets_400() -> None:
    with (
        SocketModeDouble() as sockets,
        socket.create_connection(("127.0.0.1", sockets.port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /link/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 400 ")
        assert sockets.refused == ["Upgrade: websocket missing"]
        assert not sockets.connections


def test_hello_envelope_fragmented_ack_pings_and_close() -> None:
    with SocketModeDouble() as sockets, _connect(sockets.port) as client:
        conn = sockets.wait_for_connection()
        assert conn.path == "/link/?ticket=t1&app_id=A0CROWD"
        conn.hello()
        hello = json.loads(client.receive().payload)
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0CROWD"

        sent = conn.send_envelope(
            "slash_commands", {"text": "y" * 300}, accepts_response_payload=True
        )
        envelope = client.receive()  # over 125 bytes: the 16-bit length form
        assert envelope.opcode == OP_TEXT and json.loads(envelope.payload)["envelope_id"] == sent
        ack = json.dumps({"envelope_id": sent, "payload": {"text": "ok"}}).encode()
        client.send(OP_TEXT, ack[:10], fin=False)
        client.send(OP_CONTINUATION, ack[10:])
        got = conn.wait_for_ack(sent)
        assert got.payload == {"text": "ok"} and got.seconds is not None and got.seconds >= 0

        client.send(OP_PING, b"client ping")
        assert client.receive() == Frame(True, OP_PONG, False, b"client ping")
        conn.ping(b"server ping")
        assert client.receive() == Frame(True, OP_PING, False, b"server ping")
        client.send(OP_PONG, b"server ping")
        assert sockets.wait(lambda: conn.pongs or None, 10, "the pong") == [b"server ping"]

        conn.close()
        closing = client.receive()
        assert (closing.opcode, closing.payload) == (OP_CLOSE, struct.pack("!H", CLOSE_NORMAL))
        client.send(OP_CLOSE, closing.payload)
        assert conn.wait_closed() == CLOSE_NORMAL


def test_an_unmasked_client_frame_closes_with_1002() -> None:
    with SocketModeDouble() as sockets, _connect(sockets.port) as client:
        conn = sockets.wait_for_connection()
        client.send(OP_TEXT, b'{"envelope_id": "e1"}', masked=False)
        closing = client.receive()
        assert closing.opcode == OP_CLOSE
        assert struct.unpack("!H", closing.payload[:2])[0] == CLOSE_PROTOCOL_ERROR
        assert conn.wait_closed() == CLOSE_PROTOCOL_ERROR
        assert not conn.messages
