"""A JSON webhook receiver on loopback, started by the test: what apprise's json:// posts lands here."""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """``fail_next`` answers that many requests with HTTP 500; ``hang`` holds requests unanswered
    until ``release()``. ``received`` holds the bodies answered 200, in order."""

    def __init__(self, port: int = 0) -> None:
        self.fail_next = 0
        self.hang = False
        self.attempts = 0
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self._release = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with owner._lock:
                    owner.attempts += 1
                    fail = owner.fail_next > 0
                    if fail:
                        owner.fail_next -= 1
                    hang = owner.hang
                if hang:
                    owner._release.wait(60)
                    return  # the connection closes unanswered
                if fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                owner.received.put(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "json://127.0.0.1:%d/hook" % self.port

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.received.get(timeout=timeout)

    def drain(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self.received.get_nowait())
            except queue.Empty:
                return out

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
