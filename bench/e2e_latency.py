"""End-to-end alarm latency: serial line written -> duty alert received over MQTT.

Starts Mosquitto, `shouwang server run` (SQLite) and `shouwang gateway run` on a pty, sends N
panic lines one at a time from a scripted node and times each until its duty alert arrives.
Next to it, in the same run, the raw Mosquitto QoS 1 round trip (publish -> subscriber) as the
baseline. Prints one JSON object.

    python bench/e2e_latency.py [--count 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hardware.scripted_node import ScriptedNode
from protocol.kinds import Kind
from shouwang.demo import SEED
from shouwang.local_stack import GatewayDevice, GatewayProcess, ServerProcess, write_gateway_config
from shouwang.mosquitto import Mosquitto


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3),
    }


class Waiter:
    """Subscriber that wakes the sender when the message it waits for arrives."""

    def __init__(self, url: str, topic: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.cond = threading.Condition()
        self.arrived: dict[Any, float] = {}
        self.key = lambda payload: payload
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topic, 1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p=None: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("subscription to %s failed" % topic)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        key = self.key(msg.payload)
        with self.cond:
            self.arrived[key] = now
            self.cond.notify_all()

    def wait(self, key: Any, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while key not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no message for %r" % (key,))
                self.cond.wait(left)
            return self.arrived[key]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_round_trip(url: str, count: int) -> list[float]:
    waiter = Waiter(url, "bench/rtt")
    host, port = url.removeprefix("mqtt://").split(":")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(host, int(port))
    pub.loop_start()
    out = []
    try:
        for i in range(count):
            payload = b"%d" % i
            start = time.perf_counter()
            pub.publish("bench/rtt", payload, qos=1)
            out.append((waiter.wait(payload) - start) * 1000)
    finally:
        pub.disconnect()
        pub.loop_stop()
        waiter.close()
    return out


def e2e(workdir: Path, url: str, count: int) -> tuple[list[float], list[float]]:
    server = ServerProcess(workdir / "server", url, seed=SEED)
    server.start()
    node = ScriptedNode("00a3")
    config = write_gateway_config(
        workdir / "gw" / "gateway.toml",
        "gw-dongcun-01",
        workdir / "gw",
        url,
        [node.port],
        [GatewayDevice("sn-00a3", "sw-panic-button", "bench button")],
    )
    gateway = GatewayProcess(config, workdir / "gw" / "gateway.log")
    gateway.start()
    waiter = Waiter(url, "sw/v1/duty/#")
    waiter.key = lambda payload: json.loads(payload)["event"].get("device_seq")
    alert_ms: list[float] = []
    stored_ms: list[float] = []
    try:
        # Warm up: the first line also waits for the gateway to open the port and connect.
        seq = node.send(Kind.PANIC, {"battery": 90})
        if not node.wait_acked_retrying([seq], "stored", timeout=60):
            raise TimeoutError("the gateway never acked the first line")
        waiter.wait(seq, timeout=60)
        for _ in range(count):
            start = time.perf_counter()
            mono = time.monotonic()
            seq = node.send(Kind.PANIC, {"battery": 90})
            alert_ms.append((waiter.wait(seq) - start) * 1000)
            if node.wait_acked([seq], "stored", timeout=10):
                stored_ms.append((node.acks[seq]["stored"] - mono) * 1000)
    finally:
        waiter.close()
        gateway.stop()
        node.close()
        server.stop()
    return alert_ms, stored_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shouwang-bench-") as tmp:
        workdir = Path(tmp)
        with Mosquitto(workdir / "broker") as broker:
            baseline = raw_round_trip(broker.url, args.count)
            alert_ms, stored_ms = e2e(workdir, broker.url, args.count)
    print(
        json.dumps(
            {
                "bench": "e2e_latency",
                "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
                "serial_line_to_duty_alert": summary(alert_ms),
                "serial_line_to_stored_ack": summary(stored_ms) if stored_ms else None,
                "baseline_mosquitto_qos1_round_trip": summary(baseline),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
