"""The server under uvicorn on a loopback port, and a console's event stream read over HTTP."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from server.app import create_app
from server.clock import Clock, system_clock
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port
from tests.server.conftest import SECRET, SEED
from tests.server.srv_support import PASSWORD, WAIT

ADMIN_PASSWORD = "Admin-Password-2026"


def settings_for(db_url: str, broker: Mosquitto, seed: Path) -> Settings:
    return Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password=ADMIN_PASSWORD,
        deadline_interval=0,
        mqtt_client_id="shouwang-live-%s" % uuid.uuid4().hex[:8],
        seed_file=seed,
    )


def write_seed(path: Path, seed: dict[str, Any] | None = None) -> Path:
    path.write_text(json.dumps(seed or SEED, ensure_ascii=False), encoding="utf-8")
    return path


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread; yield its base URL once it serves and is subscribed."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-%d" % port, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started or not thread.is_alive():
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        assert app.state.link.wait_connected(WAIT), "server did not connect to the broker"
        for _ in range(400):
            if app.state.live.live:
                break
            thread.join(0.05)
        assert app.state.live.live, "the duty feed did not subscribe"
        yield "http://127.0.0.1:%d" % port
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def server_instance(db_url: str, broker: Mosquitto, seed: Path, clock: Clock = system_clock) -> Iterator[str]:
    with serve(create_app(settings_for(db_url, broker, seed), clock=clock)) as base:
        yield base


def token(base: str, user: str) -> str:
    password = ADMIN_PASSWORD if user == "admin" else PASSWORD
    resp = httpx.post(base + "/api/v1/auth/token", data={"username": user, "password": password})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


@dataclass
class Event:
    event: str
    data: Any
    id: str | None


@dataclass
class Stream:
    """One console's ``GET /api/v1/stream``, read in a thread; events and raw bytes collected."""

    base: str
    token: str
    last_event_id: str | None = None
    events: queue.Queue[Event | None] = field(default_factory=queue.Queue)
    raw: bytearray = field(default_factory=bytearray)
    status: int | None = None

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(WAIT, read=None))
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sse", daemon=True)
        self._thread.start()
        assert self._opened.wait(WAIT), "the stream did not answer"

    def _run(self) -> None:
        headers = {"Authorization": "Bearer " + self.token, "Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        try:
            with self._client.stream("GET", self.base + "/api/v1/stream", headers=headers) as resp:
                self.status = resp.status_code
                self._socket = resp.extensions["network_stream"].get_extra_info("socket")
                self._opened.set()
                fields: dict[str, str] = {}
                for line in resp.iter_lines():
                    self.raw.extend(line.encode("utf-8") + b"\n")
                    if line == "":
                        if "event" in fields or "data" in fields:
                            data = json.loads(fields["data"]) if "data" in fields else None
                            self.events.put(Event(fields.get("event", "message"), data, fields.get("id")))
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.events.put(None)

    def next(self, event: str | None = None, timeout: float = WAIT) -> Event:
        """The next event (of this type; others are skipped). Fails if the stream ends first."""
        while True:
            got = self.events.get(timeout=timeout)
            assert got is not None, "the stream ended"
            if event is None or got.event == event:
                return got

    def case(self, case_id: int, timeout: float = WAIT) -> Event:
        while True:
            got = self.next("case", timeout)
            if got.data["case"]["id"] == case_id:
                return got

    def ended(self, timeout: float = WAIT) -> bool:
        while True:
            if self.events.get(timeout=timeout) is None:
                return True

    def close(self) -> None:
        """Hang up as a browser tab that closes does: the reading thread sees the end at once."""
        sock = getattr(self, "_socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(WAIT)
        self._client.close()
