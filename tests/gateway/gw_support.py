"""Test doubles that talk over real transports: a pty node and an MQTT "server" client."""

from __future__ import annotations

import json
import os
import queue
import select
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import DeviceSettings, GatewaySettings, MqttSettings, OutboxSettings, SerialSettings
from protocol import serial_line as sl
from protocol.kinds import Kind
from protocol.payloads import encode_ack
from protocol.topics import Topics

WAIT = 10.0  # upper bound for anything that should happen promptly; never a timing assertion


def wait_for(predicate: Any, timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.01)


class PtyNode:
    """The node end of a real pty pair; the gateway opens ``port``."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)
        self._buf = b""

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def event(self, node: str, seq: int, kind: Kind, **data: int | str) -> bytes:
        line = sl.encode(sl.SerialEvent(node, seq, kind, dict(data)))
        self.send(line)
        return line

    def read_line(self, timeout: float = WAIT) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line from the gateway; have %r" % self._buf)
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self._buf += os.read(self.master, 4096)
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    def read_msg(self, timeout: float = WAIT) -> sl.SerialMessage:
        return sl.decode(self.read_line(timeout))

    def read_msgs(self, n: int) -> list[sl.SerialMessage]:
        return [self.read_msg() for _ in range(n)]


@dataclass
class FakeServer:
    """Subscribes to a gateway's events with a real paho client and acks what it got."""

    host: str
    port: int
    gateway: str
    auto_ack: bool = True
    prefix: str = "sw/v1"
    events: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    batch_sizes: list[list[int]] = field(default_factory=list)
    results: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    statuses: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topics = Topics(self.prefix)
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-server-%s" % self.gateway,
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()

    def start(self) -> FakeServer:
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        if not self._subscribed.wait(WAIT):
            raise AssertionError("fake server did not subscribe")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(self.topics.events(self.gateway), 1), (self.topics.cmd_result(self.gateway), 1),
                          (self.topics.status(self.gateway), 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        if msg.topic == self.topics.events(self.gateway):
            with self._lock:
                self.events.extend(body)
                self.batches += 1
                self.batch_sizes.append([int(e["id"].rsplit(":", 1)[1]) for e in body])
            if self.auto_ack:
                self.ack([int(e["id"].rsplit(":", 1)[1]) for e in body])
        elif msg.topic == self.topics.cmd_result(self.gateway):
            self.results.put(body)
        else:
            with self._lock:
                self.statuses.append(body)

    def ack(self, seqs: list[int]) -> None:
        self.client.publish(self.topics.ack(self.gateway), encode_ack(seqs), qos=1)

    def command(self, payload: dict[str, Any]) -> None:
        self.client.publish(self.topics.cmd(self.gateway), json.dumps(payload).encode(), qos=1)

    def seqs(self) -> set[int]:
        with self._lock:
            return {int(e["id"].rsplit(":", 1)[1]) for e in self.events}

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)


def settings(tmp_path: Path, url: str, ports: list[str] = (), devices: list[str] = (),  # type: ignore[assignment]
             resend_after_s: float = 5.0, gateway: str = "gw-test-01", **outbox: Any) -> GatewaySettings:
    return GatewaySettings(
        id=gateway,
        data_dir=tmp_path / "data",
        mqtt=MqttSettings(url=url, resend_after_s=resend_after_s, keepalive_s=5),
        serial=tuple(SerialSettings(port=p) for p in ports),
        devices=tuple(DeviceSettings(id=d, name=d) for d in devices),
        outbox=OutboxSettings(**outbox),
    )


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
