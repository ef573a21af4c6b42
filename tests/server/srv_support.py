"""MQTT clients for server tests: a gateway that publishes, a watcher that collects."""

from __future__ import annotations

import json
import queue
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from starlette.exceptions import StarletteDeprecationWarning

from protocol.event import Event
from protocol.kinds import Kind
from protocol.payloads import encode_events
from server.settings import Settings
from shouwang.mosquitto import Mosquitto

# Starlette's test client announces a future switch of HTTP library; nothing to act on here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

T0 = datetime(2026, 11, 23, 8, 0, 0, 301000, tzinfo=UTC)
WAIT = 10.0  # generous upper bound for a message to show up; never a timing assertion


def _connect(url: str) -> tuple[mqtt.Client, queue.Queue[bool]]:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    ready: queue.Queue[bool] = queue.Queue()
    client.connect(host, int(port))
    return client, ready


class Watcher:
    """Collects (topic, payload) from some topic filters."""

    def __init__(self, url: str, topics: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client, ready = _connect(url)

        def on_subscribe(c: mqtt.Client, u: Any, mid: int, rcs: Any, p: Any) -> None:
            ready.put(True)

        def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
            self.messages.put((msg.topic, bytes(msg.payload)))

        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.subscribe([(t, 1) for t in topics])
        self.client.loop_start()
        ready.get(timeout=WAIT)

    def next(self, topic_prefix: str = "", timeout: float = WAIT) -> tuple[str, Any]:
        """The next message whose topic starts with ``topic_prefix``; others are skipped."""
        while True:
            topic, payload = self.messages.get(timeout=timeout)
            if topic.startswith(topic_prefix):
                return topic, json.loads(payload)

    def drain(self) -> list[tuple[str, Any]]:
        out = []
        while True:
            try:
                topic, payload = self.messages.get_nowait()
            except queue.Empty:
                return out
            out.append((topic, json.loads(payload)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FakeGateway:
    """Publishes event batches the way a gateway does (QoS 1, its own topic)."""

    def __init__(self, url: str, gateway: str = "gw-dongcun-01") -> None:
        self.gateway = gateway
        self.client, _ = _connect(url)
        self.client.loop_start()

    def send_raw(self, payload: bytes, gateway: str | None = None) -> None:
        info = self.client.publish("sw/v1/gw/%s/events" % (gateway or self.gateway), payload, qos=1)
        info.wait_for_publish(WAIT)

    def send(self, events: list[Event]) -> None:
        self.send_raw(encode_events(events))

    def status(self, payload: bytes) -> None:
        self.client.publish(
            "sw/v1/gw/%s/status" % self.gateway, payload, qos=1, retain=True
        ).wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def ev(
    seq: int,
    kind: str = "panic",
    device: str = "sn-00a3",
    gateway: str = "gw-dongcun-01",
    at: datetime | None = None,
    device_seq: int | None = None,
    **data: Any,
) -> Event:
    return Event.create(gateway, seq, device, Kind(kind), at or T0, device_seq=device_seq, data=data or None)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


PASSWORD = "Correct-Horse-77"


@dataclass
class Running:
    client: TestClient
    settings: Settings
    broker: Mosquitto
    clock: FakeClock

    def token(self, username: str = "duty-c01", password: str = PASSWORD) -> dict[str, str]:
        resp = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        return {"Authorization": "Bearer " + resp.json()["access_token"]}

    @property
    def services(self) -> Any:
        return self.client.app.state.services  # type: ignore[attr-defined]
