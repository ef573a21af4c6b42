"""A panel stand-in reports to the running server over TCP and UDP through a link that drops
and repeats (loopback only): every alarm ends in exactly one case and one duty alert."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from protocol.dc09 import FrameSplitter, encode_message, read_frame
from server.app import create_app
from server.db.models import Case, EventRow
from server.errors import ConfigError
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from tests.server.conftest import SECRET
from tests.server.srv_support import T0, FakeClock, Running, TestClient, Watcher

LOOPBACK = "127.0.0.1"
TRY_FOR = 2.0  # how long the stand-in waits for an answer before it sends again


def _free_port() -> int:
    """A port free for both TCP and UDP on loopback."""
    while True:
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind((LOOPBACK, 0))
        port = int(tcp.getsockname()[1])
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()
        return port


@pytest.fixture
def sia_server(db_url: str, broker: Mosquitto, seed_file: Path) -> Iterator[Running]:
    clock = FakeClock(T0.replace(microsecond=0))
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password="Admin-Password-2026",
        deadline_interval=0,
        mqtt_client_id="shouwang-test-%s" % uuid.uuid4().hex[:8],
        seed_file=seed_file,
        sia_listen="%s:%d" % (LOOPBACK, _free_port()),
    )
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        assert app.state.link.wait_connected(10), "server did not connect to the broker"
        running = Running(client, settings, broker, clock)
        admin = running.token("admin", "Admin-Password-2026")
        resp = client.put(
            "/api/v1/devices/sia-1234",
            json={"model": "sia-panel", "name": "小卖部 报警主机", "region": "c01/t03/v12/g4"},
            headers=admin,
        )
        assert resp.status_code == 200, resp.text
        yield running


class UdpLink:
    """Relays datagrams between the panel and the receiver, following a script per datagram:
    ``drop`` (lost on the way in), ``lose_answer`` (lost on the way back), ``repeat`` (delivered
    twice), ``pass``."""

    def __init__(self, target: tuple[str, int], script: list[str]) -> None:
        self.target = target
        self.script = list(script)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.settimeout(5)
        with upstream:
            while not self._stop.is_set():
                try:
                    data, panel = self.sock.recvfrom(2048)
                except TimeoutError:
                    continue
                step = self.script.pop(0) if self.script else "pass"
                self.seen.append(step)
                if step == "drop":
                    continue
                answers = []
                for _ in range(2 if step == "repeat" else 1):
                    upstream.sendto(data, self.target)
                    answers.append(upstream.recvfrom(2048)[0])
                if step != "lose_answer":
                    for answer in answers:
                        self.sock.sendto(answer, panel)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class TcpLink:
    """Relays TCP connections, following a script per connection: ``cut`` (the frame reaches the
    receiver, then the connection breaks before the answer comes back), ``repeat`` (every frame
    is delivered twice), ``pass``."""

    def __init__(self, target: tuple[str, int], script: list[str]) -> None:
        self.target = target
        self.script = list(script)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(4)
        self.listener.settimeout(0.2)
        self.address = self.listener.getsockname()
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            step = self.script.pop(0) if self.script else "pass"
            self.seen.append(step)
            threading.Thread(target=self._relay, args=(conn, step), daemon=True).start()

    def _relay(self, conn: socket.socket, step: str) -> None:
        splitter = FrameSplitter()
        with conn, socket.create_connection(self.target, timeout=5) as upstream:
            conn.settimeout(5)
            answers = FrameSplitter()
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                for frame in splitter.feed(data):
                    for _ in range(2 if step == "repeat" else 1):
                        upstream.sendall(b"\n" + frame + b"\r")
                        got: list[bytes] = []
                        while not got:
                            got = answers.feed(upstream.recv(4096))
                        if step == "cut":
                            return  # the answer dies with the connection
                        for answer in got:
                            conn.sendall(b"\n" + answer + b"\r")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()


def _answers(raw: bytes, seq: str) -> bool:
    """An ACK or DUH names the frame's sequence number; a NAK (0000) answers whatever came."""
    frame = read_frame(raw)
    return frame.seq == seq or frame.type == "NAK"


def send_udp(address: tuple[str, int], frame: bytes, tries: int = 5) -> bytes:
    """The panel's side: send, wait for the answer to this sequence number, send again."""
    seq = read_frame(frame).seq
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TRY_FOR)
        for _ in range(tries):
            sock.sendto(frame, address)
            try:
                answer = sock.recvfrom(2048)[0]
            except TimeoutError:
                continue
            if _answers(answer, seq):
                return answer
    raise AssertionError("no answer after %d tries" % tries)


def send_tcp(address: tuple[str, int], frame: bytes, tries: int = 5) -> bytes:
    seq = read_frame(frame).seq
    for _ in range(tries):
        try:
            with socket.create_connection(address, timeout=TRY_FOR) as sock:
                sock.sendall(frame)
                splitter = FrameSplitter()
                while True:
                    data = sock.recv(4096)
                    if not data:
                        break
                    answers = [a for a in splitter.feed(data) if _answers(a, seq)]
                    if answers:
                        return b"\n" + answers[0] + b"\r"
        except (TimeoutError, ConnectionError):
            continue
    raise AssertionError("no answer after %d tries" % tries)


def _state(server: Running) -> tuple[list[tuple[str, str]], list[tuple[str, str, int]]]:
    with server.client.app.state.services.db.read() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(EventRow).order_by(EventRow.received_at))
        events = [(r.kind, r.data["code"]) for r in rows]
        found = s.scalars(select(Case).order_by(Case.id))
        cases = [(c.device_id, c.alarm_class, c.event_count) for c in found]
    return events, cases


def test_udp_panel_through_a_lossy_link(sia_server: Running, watcher: Watcher) -> None:
    clock = sia_server.clock
    receiver = sia_server.client.app.state.panels.address  # type: ignore[attr-defined]
    link = UdpLink(receiver, ["drop", "lose_answer", "repeat"])
    try:
        frame = encode_message("ADM-CID", 101, "1234", "1120 01 003", timestamp=clock.now)
        answer = send_udp(link.address, frame)
    finally:
        link.close()
    assert link.seen == ["drop", "lose_answer", "repeat"]
    assert answer == b'\n' + b'D83C0012"ACK"0101L0#1234[]' + b"\r"
    assert _state(sia_server) == ([("panic", "1120")], [("sia-1234", "panic", 1)])
    topic, alert = watcher.next("sw/v1/duty/")
    assert (topic, alert["type"], alert["device"], alert["case"]["kind"], alert["event"]["data"]["code"]) == (
        "sw/v1/duty/c01/t03/v12/g4/alerts",
        "case_opened",
        {"id": "sia-1234", "name": "小卖部 报警主机", "model": "sia-panel"},
        "panic",
        "1120",
    )
    assert watcher.drain() == []


def test_tcp_panel_through_a_link_that_cuts_and_repeats(sia_server: Running, watcher: Watcher) -> None:
    clock = sia_server.clock
    receiver = sia_server.client.app.state.panels.address  # type: ignore[attr-defined]
    link = TcpLink(receiver, ["cut", "repeat"])
    try:
        frame = encode_message("SIA-DCS", 102, "1234", "Nri1/FA007", timestamp=clock.now)
        answer = send_tcp(link.address, frame)
        # A link test on a clean connection afterwards: acked, stores nothing.
        null = send_tcp(link.address, encode_message("NULL", 103, "1234", "", timestamp=clock.now))
    finally:
        link.close()
    assert link.seen == ["cut", "repeat", "pass"]
    assert answer == b'\n' + b'D7CC0012"ACK"0102L0#1234[]' + b"\r"
    assert null == b'\n' + b'129D0012"ACK"0103L0#1234[]' + b"\r"
    assert _state(sia_server) == ([("fire", "FA")], [("sia-1234", "fire", 1)])
    topic, alert = watcher.next("sw/v1/duty/")
    assert (topic, alert["type"], alert["device"]["id"], alert["case"]["kind"]) == (
        "sw/v1/duty/c01/t03/v12/g4/alerts", "case_opened", "sia-1234", "fire")
    assert watcher.drain() == []


def test_direct_tcp_refusal_is_answered_on_the_same_connection(sia_server: Running) -> None:
    receiver = sia_server.client.app.state.panels.address  # type: ignore[attr-defined]
    old = sia_server.clock.now.replace(year=2020)
    stale = encode_message("ADM-CID", 104, "1234", "1120 01 003", timestamp=old)
    answer = send_tcp(receiver, stale)
    assert answer[9:].startswith(b'"NAK"0000R0L0A0[]_')
    assert _state(sia_server) == ([], [])
    metrics = sia_server.client.get("/metrics").text
    assert 'shouwang_sia_rejected_total{reason="stale_timestamp"} 1' in metrics


def test_a_taken_port_stops_the_server_before_it_serves(db_url: str, broker: Mosquitto) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        settings = Settings(
            db_url=db_url,
            mqtt_url=broker.url,
            secret=SECRET,
            deadline_interval=0,
            mqtt_client_id="shouwang-test-%s" % uuid.uuid4().hex[:8],
            sia_listen="%s:%d" % (LOOPBACK, port),
        )
        with pytest.raises(ConfigError) as err, TestClient(create_app(settings)):
            pass
    assert str(err.value).startswith("SIA receiver cannot listen on 127.0.0.1:%d/tcp: " % port)
