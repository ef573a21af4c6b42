"""Backlog drain: 100,000 events in the outbox, gateway connects, a server acks every batch.

Times from ``Gateway.start()`` until the outbox is empty, i.e. every event was published,
received by a subscriber, acked on the ack topic and deleted in the gateway's commit. The
acking server is a paho client on the same Mosquitto. Baseline in the same run: the raw time
for the same number of events, batched the same way, published by a bare paho client at QoS 1
and received by the subscriber (no outbox, no acks). Prints one JSON object.

    python bench/gateway_drain.py [--count 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import DeviceSettings, GatewaySettings, MqttSettings
from gateway.daemon import Gateway
from gateway.outbox import Incoming, Outbox
from protocol.kinds import Kind
from protocol.payloads import encode_ack
from shouwang.local_stack import ServerProcess
from shouwang.mosquitto import Mosquitto

GW = "gw-bench"


class AckingServer:
    def __init__(self, host: str, port: int, topic: str, ack_topic: str | None) -> None:
        self.received = 0
        self.lock = threading.Lock()
        self.ack_topic = ack_topic
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-server-%d" % os.getpid(), protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda c, *a: c.subscribe(topic, 1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        self.ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        batch = json.loads(msg.payload)
        with self.lock:
            self.received += len(batch)
        if self.ack_topic:
            seqs = [int(e["id"].rsplit(":", 1)[1]) for e in batch]
            client.publish(self.ack_topic, encode_ack(seqs), qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


MIXES = {
    # What a station's outbox holds after an outage: mostly heartbeats and door events.
    "status": [Kind.HEARTBEAT, Kind.DOOR_OPEN, Kind.HEARTBEAT, Kind.DOOR_CLOSE],
    # Half of it alarms and faults: each joins a case at a real server and raises an alert.
    "mixed": [Kind.HEARTBEAT, Kind.DOOR_OPEN, Kind.PANIC, Kind.LOW_BATTERY],
}


def write_seed(path: Path) -> Path:
    """Region, station, the bench gateway and its 1,000 devices, for a real server."""
    seed = {
        "regions": [{"path": "c99", "name": "bench county", "level": "county"}],
        "stations": [{"code": "st-bench", "name": "bench station", "region": "c99"}],
        "gateways": [{"id": GW, "station": "st-bench"}],
        "devices": [
            {"id": "sn-%04x" % n, "gateway": GW, "model": "sw-panic-button", "name": "bench %d" % n}
            for n in range(1000)
        ],
        "users": [],
    }
    path.write_text(json.dumps(seed))
    return path


def fill(path: Path, count: int, mix: str = "mixed") -> None:
    box = Outbox(path, GW)
    at = datetime.now(UTC)
    kinds = MIXES[mix]
    for i in range(0, count, 5000):
        box.append(
            [
                Incoming("sn-%04x" % (j % 1000), kinds[j % 4], at, j // 1000 + 1, {"battery": 87})
                for j in range(i, min(count, i + 5000))
            ]
        )
    box.close()


def baseline(broker: Mosquitto, count: int) -> float:
    topic = "bench/raw"
    server = AckingServer(broker.host, broker.port, topic, None)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    event = json.dumps(
        [
            {
                "v": 1,
                "id": "%s:%d" % (GW, i),
                "gateway": GW,
                "device": "sn-0001",
                "kind": "heartbeat",
                "priority": "status",
                "at": "2026-11-23T08:00:00.000Z",
                "device_seq": i,
                "data": {"battery": 87},
            }
            for i in range(500)
        ]
    ).encode()
    start = time.perf_counter()
    for _ in range(count // 500):
        pub.publish(topic, event, qos=1)
    while server.received < count:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    pub.disconnect()
    pub.loop_stop()
    server.stop()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument(
        "--server",
        choices=["acker", "real"],
        default="acker",
        help="acker: a paho client acks each batch at once; real: `shouwang server run` on SQLite",
    )
    ap.add_argument("--mix", choices=sorted(MIXES), default="mixed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker")
        broker.start()
        try:
            raw_s = baseline(broker, args.count)
            settings = GatewaySettings(
                id=GW,
                data_dir=workdir / "gw",
                mqtt=MqttSettings(url=broker.url),
                devices=tuple(DeviceSettings("sn-%04x" % n) for n in range(1000)),
            )
            fill(settings.outbox_path, args.count, args.mix)
            server: AckingServer | ServerProcess
            if args.server == "real":
                server = ServerProcess(workdir / "server", broker.url, seed=write_seed(workdir / "seed.json"))
                server.start(timeout=120)
            else:
                server = AckingServer(
                    broker.host, broker.port, "sw/v1/gw/%s/events" % GW, "sw/v1/gw/%s/ack" % GW
                )
            gw = Gateway(settings)
            start = time.perf_counter()
            gw.start()
            assert gw.outbox is not None
            while gw.outbox.backlog > 0:
                time.sleep(0.01)
            elapsed = time.perf_counter() - start
            counters = gw.counters.snapshot()
            gw.stop()
            server.stop()
        finally:
            broker.stop()
    print(
        json.dumps(
            {
                "bench": "gateway_drain",
                "server": args.server,
                "mix": args.mix,
                "events": args.count,
                "gateway_drained_and_acked_s": round(elapsed, 2),
                "gateway_events_per_s": round(args.count / elapsed),
                "batches": counters.get("mqtt.batches"),
                "resent": counters.get("resent", 0),
                "baseline_raw_qos1_publish_to_subscriber_s": round(raw_s, 2),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
