"""A real HTTP server in a thread that records every request it gets: for tests that must show a worker or the
service fetched what it was allowed to, and contacted nothing else (``recording.requests == []``)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """What the server answers for one path: a status, headers and a body; ``length=False`` sends no
    ``Content-Length`` (the body ends when the connection closes, as a server hiding its size would)."""

    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    length: bool = True


class RecordingServer:
    """``with RecordingServer({'/a.pth': Reply(data)}) as server:`` serves on ``server.url`` (127.0.0.1, a free
    port); ``server.requests`` lists the ``'METHOD /path'`` of every request received, in order."""

    def __init__(self, routes: dict[str, Reply] | None = None):
        self.routes: dict[str, Reply] = dict(routes or {})
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.netloc = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.netloc}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"http-{self.port}", daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                with server._lock:
                    server.requests.append(f"{self.command} {self.path}")
                reply = server.routes.get(self.path.split("?")[0], Reply(b"not here", status=404))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.length:
                    self.send_header("Content-Length", str(len(reply.body)))
                else:
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_POST = do_PUT = _answer

            def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
                pass

        return Handler
