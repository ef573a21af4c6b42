"""Server ingest: batches over real MQTT -> stored, committed, acked; SQLite and PostgreSQL.

A fake gateway publishes N batches of B events (one panic in ten, the rest heartbeats) to a
real Mosquitto, waiting for each ack before sending the next batch, as a real gateway with a
backlog does. Reported: events per second and the ack round trip per batch (publish -> ack
received). Baseline in the same run: the raw Mosquitto QoS 1 round trip (publish -> a
subscriber echoes -> received), which is the floor for any ack.

    python bench/server_ingest.py [--batches 200] [--batch 50] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import queue
import socket
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.event import Event
from protocol.kinds import Kind
from protocol.payloads import encode_events
from shouwang.mosquitto import Mosquitto

SECRET = "bench-secret-8d0f2c9a71e34b6b9c1d5e7f3a2b4c6d"
GW = "gw-bench-01"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def client(port: int, topics: list[str]) -> tuple[mqtt.Client, queue.Queue[tuple[str, bytes, float]]]:
    got: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: got.put((m.topic, bytes(m.payload), time.perf_counter()))
    c.connect("127.0.0.1", port)
    # As the gateway and server do: without it, a publish right after a PUBACK waits for the
    # broker's delayed TCP ACK and every round trip measures 40-90 ms of Nagle.
    sock = c.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for t in topics:
        c.subscribe(t, qos=1)
    c.loop_start()
    time.sleep(0.3)
    return c, got


def baseline(port: int, count: int) -> dict[str, float]:
    echo_in, echo_q = client(port, ["bench/ping"])
    pub, got = client(port, ["bench/pong"])
    rtts = []
    for i in range(count):
        t0 = time.perf_counter()
        pub.publish("bench/ping", b"%d" % i, qos=1)
        echo_q.get(timeout=10)
        echo_in.publish("bench/pong", b"%d" % i, qos=1)
        got.get(timeout=10)
        rtts.append((time.perf_counter() - t0) * 1000)
    for c in (echo_in, pub):
        c.disconnect()
        c.loop_stop()
    return {"rtt_ms_median": round(statistics.median(rtts), 3), "rtt_ms_p90": round(pct(rtts, 90), 3)}


def run_server(db_url: str, port: int, batches: int, size: int, workdir: Path) -> dict[str, Any]:
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
        db_url=db_url,
        mqtt_url="mqtt://127.0.0.1:%d" % port,
        secret=SECRET,
        mqtt_client_id="bench-server",
        deadline_interval=0,
    )
    app = create_app(settings)
    with TestClient(app):
        assert app.state.link.wait_connected(10)
        gw, acks = client(port, ["sw/v1/gw/%s/ack" % GW])
        rtts: list[float] = []
        seq = 0
        now = datetime.now(UTC)
        t_start = time.perf_counter()
        for b in range(batches):
            events = []
            for i in range(size):
                seq += 1
                kind = Kind.PANIC if i % 10 == 0 else Kind.HEARTBEAT
                events.append(
                    Event.create(GW, seq, "sn-%x" % (0x100 + (b * size + i) % 500), kind, now, device_seq=seq)
                )
            t0 = time.perf_counter()
            gw.publish("sw/v1/gw/%s/events" % GW, encode_events(events), qos=1)
            acks.get(timeout=30)
            rtts.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - t_start
        # Burst: the whole backlog published at once, as after a long uplink outage; this is
        # the server's own throughput, not the broker's round trip.
        burst = []
        for b in range(batches):
            events = []
            for i in range(size):
                seq += 1
                kind = Kind.PANIC if i % 10 == 0 else Kind.HEARTBEAT
                events.append(
                    Event.create(GW, seq, "sn-%x" % (0x100 + (b * size + i) % 500), kind, now, device_seq=seq)
                )
            burst.append(encode_events(events))
        t_burst = time.perf_counter()
        for payload in burst:
            gw.publish("sw/v1/gw/%s/events" % GW, payload, qos=1)
        for _ in burst:
            acks.get(timeout=120)
        burst_elapsed = time.perf_counter() - t_burst
        gw.disconnect()
        gw.loop_stop()
        metrics = app.state.services.metrics
        stored = metrics.get("events_ingested")
    return {
        "events": 2 * batches * size,
        "stored": stored,
        "events_per_s_one_batch_in_flight": round(batches * size / elapsed, 1),
        "events_per_s_burst": round(batches * size / burst_elapsed, 1),
        "batch_ack_ms_median": round(statistics.median(rtts), 2),
        "batch_ack_ms_p90": round(pct(rtts, 90), 2),
        "batch_ack_ms_max": round(max(rtts), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--postgres", help="also run on this PostgreSQL (a fresh schema is used)")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "batches": args.batches,
        "batch_size": args.batch,
    }
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        out["baseline_mosquitto_qos1"] = baseline(broker.port, 50)
        out["sqlite"] = run_server(
            "sqlite:///%s/bench.db" % tmp, broker.port, args.batches, args.batch, Path(tmp)
        )
        if args.postgres:
            import psycopg

            schema = "bench_%s" % uuid.uuid4().hex[:8]
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute('CREATE SCHEMA "%s"' % schema)
            try:
                sep = "&" if "?" in args.postgres else "?"
                url = "%s%soptions=-csearch_path%%3D%s" % (args.postgres, sep, schema)
                out["postgres"] = run_server(url, broker.port, args.batches, args.batch, Path(tmp))
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute('DROP SCHEMA "%s" CASCADE' % schema)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
