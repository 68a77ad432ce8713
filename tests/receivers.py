"""A webhook receiver for tests and benchmarks: a real HTTP server on a local port that keeps every
POST it gets and answers with a status it can be told, and that can be taken down and brought back."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from tests.servers import free_port


class Delivery(NamedTuple):
    """One POST as it arrived: wall time (``time.time()``), path, headers and raw body."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """Keeps every POST in ``got`` and answers `answer` (``status``, 200 unless changed).

    The port is fixed when it is made, so that a receiver taken ``down()`` comes back ``up()`` at
    the same URL, as a real one does after a restart."""

    def __init__(self, status: int = 200, port: int | None = None):
        self.status, self.port = status, port or free_port()
        self.got: list[Delivery] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return self.url_for("hooks/faultline")

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def answer(self, delivery: Delivery) -> int:
        """The status to answer ``delivery`` with (override to check or script it)."""
        return self.status

    def up(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                delivery = Delivery(
                    time.time(), self.path, dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))
                )
                receiver.got.append(delivery)
                self.send_response(receiver.answer(delivery))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, name="http-receiver", daemon=True).start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
