"""Poisoned batches published straight to the events topic with a gateway's own broker account,
next to a real gateway's traffic: each bad value costs only its own event."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.chaos.invariants import server_events, wait_healed
from tests.chaos.stack import DONGCUN, XICUN, Burst, ChaosStack, mqtt_address

pytestmark = pytest.mark.chaos

AT = '"2026-11-23T08:00:00.301Z"'


def raw_event(seq: object, device_seq: object, kind: str = "panic", **fields: str) -> str:
    """One event of XICUN's panic button as JSON text; ``fields`` replace values with raw JSON."""
    base = {
        "v": "1",
        "id": json.dumps("%s:%s" % (XICUN, seq), ensure_ascii=False),
        "gateway": json.dumps(XICUN),
        "device": '"sn-01b1"',
        "kind": json.dumps(kind),
        "priority": '"alarm"',
        "at": AT,
        "device_seq": str(device_seq),
        "data": "{}",
    }
    base.update(fields)
    return "{" + ",".join('"%s":%s' % (k, v) for k, v in base.items()) + "}"


# One value Python or a database cannot take, each beside a valid panic in its own batch.
POISON = [
    lambda seq: raw_event("١٢", seq),  # Arabic-Indic digits in the seq
    lambda seq: raw_event(2**64, seq),  # a seq beyond 64 bits
    lambda seq: raw_event(seq, 2**64),  # a device_seq beyond 64 bits
    lambda seq: raw_event(seq, seq, at='"0001-01-01T00:00:00+01:00"'),  # overflows on conversion to UTC
    lambda seq: raw_event(seq, seq, data='{"rssi": NaN}'),
    lambda seq: raw_event(seq, seq, data='{"t": [1, Infinity]}'),
    lambda seq: raw_event(seq, seq, data='{"n": %s}' % ("9" * 5000)),  # thousands of digits
    lambda seq: raw_event(seq, seq, data='{"s": "\\ud800"}'),  # a lone surrogate
]
# Payloads nothing can be read from: refused whole, kept as dead letters.
UNREADABLE = [b"\xff\xfe not utf-8", b'[{"v":1, "id": "gw-xicun-01:1",', b"[" * 50_000 + b"]" * 50_000]


class Poisoner:
    """A client signed in with XICUN's account that publishes raw batches and records the
    server's acks, resending what is not acked as a gateway does."""

    def __init__(self, broker_url: str, login: tuple[str, str]) -> None:
        self.acked: set[int] = set()
        self._lock = threading.Lock()
        ready: queue.Queue[bool] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=XICUN, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(*login)
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe("sw/v1/gw/%s/ack" % XICUN, 1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p=None: ready.put(True)
        self.client.on_message = self._on_ack
        host, port = mqtt_address(broker_url)
        self.client.connect(host, port)
        self.client.loop_start()
        ready.get(timeout=10)

    def _on_ack(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        ranges = json.loads(msg.payload)["seqs"]
        with self._lock:
            for lo, hi in ranges:
                self.acked.update(range(lo, hi + 1))

    def publish(self, payload: bytes) -> None:
        self.client.publish("sw/v1/gw/%s/events" % XICUN, payload, qos=1).wait_for_publish(10)

    def deliver(self, batches: list[tuple[int, bytes]], timeout: float = 30.0) -> None:
        """Publish each (valid seq, batch) until the server has acked its valid seq."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                waiting = [b for seq, b in batches if seq not in self.acked]
            if not waiting:
                return
            for payload in waiting:
                self.publish(payload)
            time.sleep(2.0)
        raise AssertionError("valid events beside the poison never acked: %s"
                             % sorted({s for s, _ in batches} - self.acked))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_poisoned_batches_next_to_real_traffic(secured_stack: ChaosStack) -> None:
    stack = secured_stack
    assert stack.logins is not None
    button, door = stack.villager("00a3"), stack.villager("00a4")
    stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    burst = Burst([button, door], 60).start()

    poisoner = Poisoner(stack.broker.url, stack.logins.login(XICUN))
    stack.closers.append(poisoner.close)
    for payload in UNREADABLE:
        poisoner.publish(payload)
    batches = []
    for i, poison in enumerate(POISON):
        good, bad = 2 * i + 1, 2 * i + 2
        batches.append((good, ("[%s,%s]" % (raw_event(good, good), poison(bad))).encode("utf-8")))
    poisoner.deliver(batches)
    burst.join()

    wait_healed(stack)
    valid = sorted(("%s:%d" % (XICUN, seq), seq) for seq, _ in batches)
    held = sorted((e.id, e.device_seq) for e in server_events(stack.db) if e.gateway == XICUN)
    assert held == valid
    assert sorted(r for (r,) in stack.db.rows("SELECT reason FROM dead_letters")) == [
        "bad_json", "bad_json", "too_deep"]
