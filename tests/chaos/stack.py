"""The system under fault: real Mosquitto, `shouwang server run` and `shouwang gateway run`
processes, scripted serial nodes on ptys and a duty room listening to every alert.

Each part can be killed (SIGKILL), stopped and started again on the same port, database and
data directory, as a power cut or a crash would leave them.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hardware.scripted_node import ScriptedNode
from protocol.kinds import Kind
from shouwang.demo import SEED
from shouwang.local_stack import GatewayDevice, GatewayProcess, ServerProcess
from shouwang.mosquitto import Mosquitto
from tests.chaos.secured import Logins

# The demo's seed: two stations, each with a gateway, a panic button and a door sensor.
DONGCUN = "gw-dongcun-01"
XICUN = "gw-xicun-01"
DEVICES = {
    DONGCUN: [
        GatewayDevice("sn-00a3", "sw-panic-button", "东村 3 组 呼叫按钮"),
        GatewayDevice("sn-00a4", "sw-door-sensor", "东村小卖部 门磁"),
    ],
    XICUN: [
        GatewayDevice("sn-01b1", "sw-panic-button", "西村 1 组 呼叫按钮"),
        GatewayDevice("sn-01b2", "sw-door-sensor", "西村卫生室 门磁"),
    ],
}
DUTY_TOPICS = ["sw/v1/duty/#"]
# Generous bounds for a loaded two-core machine; every wait ends as soon as its condition holds.
HEAL_S = 60.0


def mqtt_address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("mqtt://").split(":")
    return host, int(port)


class DutyRoom:
    """A duty-room client with a persistent session: it keeps every alert published while it
    runs, across broker restarts (the broker queues QoS 1 messages for its session)."""

    def __init__(self, broker_url: str, login: tuple[str, str] | None = None,
                 client_id: str = "chaos-duty-room") -> None:
        self.alerts: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        subscribed: queue.Queue[bool] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        if login is not None:
            self.client.username_pw_set(*login)

        def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any = None) -> None:
            c.subscribe([(t, 1) for t in DUTY_TOPICS])

        def on_subscribe(c: mqtt.Client, u: Any, mid: int, rcs: Any, p: Any = None) -> None:
            subscribed.put(True)

        def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
            payload = json.loads(msg.payload)
            with self._lock:
                self.alerts.append((msg.topic, payload))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        host, port = mqtt_address(broker_url)
        self.client.connect(host, port, clean_start=False, properties=props)
        self.client.loop_start()
        subscribed.get(timeout=10)

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.alerts)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Villager:
    """A serial node used as villagers use one, with the firmware's retry: every line without a
    ``stored`` ack is written again, byte for byte, until the gateway acks it.

    Writes never block the test: with the gateway dead nobody reads the pty, and a full buffer
    only means the line waits for the next retry, as on a real UART.
    """

    def __init__(self, node: str, retry_every: float = 1.0) -> None:
        self.node = ScriptedNode(node)
        self.device = "sn-" + node
        os.set_blocking(self.node.master, False)
        self.retry_every = retry_every
        self.kinds: dict[int, str] = {}  # seq -> the kind the villager sent under it
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._retrier = threading.Thread(target=self._retry_loop, name="retry-%s" % node, daemon=True)
        self._retrier.start()

    @property
    def port(self) -> str:
        return self.node.port

    def _write(self, raw: bytes, timeout: float = 0.2) -> bool:
        view = memoryview(raw)
        deadline = time.monotonic() + timeout
        with self._lock:
            while view:
                try:
                    written = os.write(self.node.master, view)
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    select.select([], [self.node.master], [], left)
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EBADF):
                        return False
                    raise
                view = view[written:]
        return True

    def press(self, kind: Kind, data: dict[str, Any] | None = None) -> int:
        with self._lock:
            seq, line = self.node.line_for(kind, data)
            self.kinds[seq] = kind.value
            self.node.sent_at[seq] = time.monotonic()
            self._write(line)
        return seq

    def repeat(self, seqs: Iterable[int]) -> None:
        """Send lines again byte for byte, as a node that missed their acks does."""
        for seq in seqs:
            self._write(self.node.lines[seq])

    def _retry_loop(self) -> None:
        while not self._stop.wait(self.retry_every):
            now = time.monotonic()
            stored = self.stored()
            with self._lock:
                lines = dict(self.node.lines)
                sent_at = dict(self.node.sent_at)
            for seq in sorted(set(lines) - stored - set(self.node.naks)):
                if now - sent_at.get(seq, now) >= self.retry_every:
                    if not self._write(lines[seq], timeout=0.05):
                        break

    def stored(self) -> set[int]:
        """The device-side log: every seq the gateway told this device was ``stored``. A higher
        level implies it, as in the firmware (a retransmission of an event the server already
        acked is answered ``delivered``)."""
        return set().union(*(self.node.acked(level) for level in ("stored", "delivered", "accepted")))

    def sent(self) -> set[int]:
        with self._lock:
            return set(self.node.lines)

    def sent_kinds(self) -> dict[int, str]:
        with self._lock:
            return dict(self.kinds)

    def close(self) -> None:
        self._stop.set()
        self._retrier.join(5)
        self.node.close()


class ServerDb:
    """Read access to the server's database, SQLite file or PostgreSQL schema."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite:///"):
            path = self.url.removeprefix("sqlite:///")
            if not Path(path).exists():
                return []
            conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url, connect_timeout=10) as conn:
            return conn.execute(sql).fetchall()


@dataclass
class ChaosStack:
    workdir: Path
    broker: Mosquitto
    db_url: str
    server: ServerProcess
    duty: DutyRoom
    logins: Logins | None = None
    gateways: dict[str, GatewayProcess] = field(default_factory=dict)
    villagers: dict[str, Villager] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def db(self) -> ServerDb:
        return ServerDb(self.db_url)

    def villager(self, node: str) -> Villager:
        v = Villager(node)
        self.villagers[v.device] = v
        return v

    def gateway_dir(self, gateway_id: str) -> Path:
        return self.workdir / gateway_id

    def start_gateway(
        self,
        gateway_id: str,
        villagers: Iterable[Villager],
        extra: str = "",
        env: dict[str, str] | None = None,
    ) -> GatewayProcess:
        config = self.gateway_dir(gateway_id) / "gateway.toml"
        login = self.logins.login(gateway_id) if self.logins is not None else None
        write_gateway_config(config, gateway_id, self.broker.url, [v.port for v in villagers], login, extra)
        proc = GatewayProcess(config, self.gateway_dir(gateway_id) / "gateway.log", env)
        proc.start()
        self.gateways[gateway_id] = proc
        return proc

    def wait_ready(self, villagers: Iterable[Villager]) -> None:
        """One heartbeat per device acked ``stored``: the gateway reads its ports."""
        wanted = [(v, v.press(Kind.HEARTBEAT)) for v in villagers]
        self.wait_for(lambda: all(seq in v.stored() for v, seq in wanted), "the gateway to read its ports")

    def check_alive(self) -> None:
        for proc in self.gateways.values():
            proc.check_alive()
        self.server.check_alive()

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = HEAL_S,
                 alive: bool = True) -> None:
        """Poll ``check``; with ``alive`` every process must stay up meanwhile."""
        deadline = time.monotonic() + timeout
        while not check():
            if alive:
                self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(0.2)

    def close(self) -> None:
        for proc in self.gateways.values():
            proc.stop()
        for villager in self.villagers.values():
            villager.close()
        for close in reversed(self.closers):
            close()
        self.duty.close()
        self.server.stop()


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def write_gateway_config(path: Path, gateway_id: str, mqtt_url: str, ports: list[str],
                         login: tuple[str, str] | None, extra: str = "") -> None:
    """A station's config: its seeded devices, a short resend timer (2 s), ``extra`` TOML tables."""
    lines = ["[gateway]", "id = %s" % _toml(gateway_id), "data_dir = %s" % _toml(str(path.parent / "data")),
             "", "[mqtt]", "url = %s" % _toml(mqtt_url), "resend_after_s = 2.0"]
    if login is not None:
        lines += ["username = %s" % _toml(login[0]), "password = %s" % _toml(login[1])]
    for port in ports:
        lines += ["", "[[serial]]", "port = %s" % _toml(port), "baudrate = 115200"]
    for dev in DEVICES[gateway_id]:
        lines += ["", "[[devices]]", "id = %s" % _toml(dev.id), "name = %s" % _toml(dev.name),
                  "model = %s" % _toml(dev.model)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


@contextmanager
def chaos_stack(workdir: Path, broker: Mosquitto, db_url: str, server_env: dict[str, str] | None = None,
                logins: Logins | None = None) -> Iterator[ChaosStack]:
    """Server (seeded like the demo) and the duty room; gateways are started by the scenario.
    With ``logins`` every client signs in with its own broker account."""
    env = dict(server_env or {})
    if logins is not None:
        env["SHOUWANG_MQTT_USERNAME"], env["SHOUWANG_MQTT_PASSWORD"] = logins.server
    duty = DutyRoom(broker.url, logins.duty if logins is not None else None)
    server = ServerProcess(workdir / "server", broker.url, seed=SEED, db_url=db_url, env=env)
    try:
        server.start(timeout=60)
    except BaseException:
        duty.close()
        raise
    stack = ChaosStack(workdir, broker, db_url, server, duty, logins)
    try:
        yield stack
    finally:
        stack.close()


class Burst:
    """Villagers pressing in a steady stream on a thread: alarms that open and cancel cases on
    panic buttons (so a burst makes many cases), openings and closings on door sensors."""

    def __init__(self, villagers: Iterable[Villager], count: int, pause: float = 0.02) -> None:
        self.villagers = list(villagers)
        self.count = count
        self.pause = pause
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="burst", daemon=True)

    def start(self) -> Burst:
        self._thread.start()
        return self

    def _run(self) -> None:
        for i in range(self.count):
            for v in self.villagers:
                v.press(burst_kind(v.device, i))
            time.sleep(self.pause)
        self.done.set()

    def join(self, timeout: float = HEAL_S) -> None:
        self._thread.join(timeout)
        assert self.done.is_set(), "the burst did not finish"


def burst_kind(device: str, i: int) -> Kind:
    """Panic buttons alternate panic and cancel (each cancel within the grace time settles the
    case, so the next panic opens a new one); door sensors alternate open and close."""
    if device in PANIC_BUTTONS:
        return Kind.PANIC if i % 2 == 0 else Kind.PANIC_CANCEL
    return Kind.DOOR_OPEN if i % 2 == 0 else Kind.DOOR_CLOSE


PANIC_BUTTONS = frozenset(d.id for devs in DEVICES.values() for d in devs if d.model == "sw-panic-button")
