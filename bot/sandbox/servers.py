"""Threaded WSGI servers on a local port, each in a daemon thread (the page, the app)."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

LOCAL = "127.0.0.1"  # the default address: only this machine reaches the servers


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a long-poll in flight never holds up the exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # the page long-polls: one access line per poll would drown the log


class LocalServer:
    """A WSGI app served on host:port (port 0: any free port) until stop()."""

    def __init__(self, app: WSGIApplication, host: str, port: int) -> None:
        self.server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
