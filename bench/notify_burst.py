"""Notifications for a burst of alarm cases: delivery time, and what they cost the ack path.

A fake gateway publishes N panics from N different devices (so N new alarm cases) to a real
Mosquitto all at once, in batches of B, as after an uplink outage. The server stores, commits
and acks them; with ``SHOUWANG_NOTIFY`` pointing at a local JSON webhook (apprise ``json://``)
it also writes one notification per case in the same transaction and sends them from its
notification outbox. Each round runs on a fresh SQLite database, once without and once with
notifications, alternating; the medians of the rounds are reported.

Reported per mode: ingest throughput (events stored and acked per second, first publish to
last ack) and the ack round trip per batch; with notifications also the time from the first
publish until the webhook has received all N.

    python bench/notify_burst.py [--cases 1000] [--batch 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import queue
import socket
import statistics
import tempfile
import threading
import time
import uuid
import warnings
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.event import Event
from protocol.kinds import Kind
from protocol.payloads import encode_events
from shouwang.mosquitto import Mosquitto

SECRET = "bench-secret-3f9b1c7d2e8a4f6b0c5d9e1a7b3c2d4e"
GW = "gw-bench-01"


def serve_receiver(port_out: Any, counts: Any) -> None:
    """The webhook's process: a real target is another machine, not threads of the server's."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with lock:
                counts.put(time.time())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


class Receiver:
    """A JSON webhook on loopback, in a process of its own, that counts what it is given."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        port: Any = ctx.Queue()
        self.arrivals: Any = ctx.Queue()
        self.proc = ctx.Process(target=serve_receiver, args=(port, self.arrivals), daemon=True)
        self.proc.start()
        self.port = int(port.get(timeout=30))

    @property
    def url(self) -> str:
        return "json://127.0.0.1:%d/hook" % self.port

    def wait_all(self, expected: int, timeout: float) -> tuple[int, float]:
        """How many arrived (up to ``expected``) and the wall time of the last."""
        count, last = 0, 0.0
        deadline = time.monotonic() + timeout
        while count < expected and time.monotonic() < deadline:
            try:
                last = self.arrivals.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            count += 1
        return count, last

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def gateway_client(port: int) -> tuple[mqtt.Client, queue.Queue[float]]:
    acks: queue.Queue[float] = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: acks.put(time.perf_counter())
    c.connect("127.0.0.1", port)
    sock = c.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.subscribe("sw/v1/gw/%s/ack" % GW, qos=1)
    c.loop_start()
    time.sleep(0.3)
    return c, acks


def one_round(port: int, workdir: Path, cases: int, batch: int, receiver: Receiver | None) -> dict[str, Any]:
    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
        db_url="sqlite:///%s" % (workdir / ("bench-%s.db" % uuid.uuid4().hex[:6])),
        mqtt_url="mqtt://127.0.0.1:%d" % port,
        secret=SECRET,
        mqtt_client_id="bench-notify-%s" % uuid.uuid4().hex[:6],
        deadline_interval=0,
        notify_targets=(receiver.url,) if receiver is not None else (),
    )
    app = create_app(settings)
    with TestClient(app):
        assert app.state.link.wait_connected(10)
        gw, acks = gateway_client(port)
        now = datetime.now(UTC)
        payloads = []
        for start in range(0, cases, batch):
            events = [
                Event.create(GW, seq + 1, "sn-%x" % (0x1000 + seq), Kind.PANIC, now, device_seq=seq + 1)
                for seq in range(start, min(cases, start + batch))
            ]
            payloads.append(encode_events(events))
        sent_at = []
        wall0 = time.time()
        t0 = time.perf_counter()
        for payload in payloads:
            sent_at.append(time.perf_counter())
            gw.publish("sw/v1/gw/%s/events" % GW, payload, qos=1)
        ack_times = [acks.get(timeout=120) for _ in payloads]
        acked = time.perf_counter() - t0
        out: dict[str, Any] = {
            "events_per_s": round(cases / acked, 1),
            "all_acked_s": round(acked, 3),
            "batch_ack_ms_median": round(
                statistics.median((a - s) * 1000 for a, s in zip(ack_times, sent_at, strict=True)), 1
            ),
        }
        if receiver is not None:
            count, last = receiver.wait_all(cases, 300)
            if count < cases:
                raise SystemExit("only %d of %d notifications arrived" % (count, cases))
            out["all_delivered_s"] = round(last - wall0, 3)
            out["delivered"] = count
        gw.disconnect()
        gw.loop_stop()
        out["cases_opened"] = int(app.state.services.metrics.get("cases_opened"))
    return out


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cases": args.cases,
        "batch_size": args.batch,
        "rounds": args.rounds,
    }
    receiver = Receiver()
    plain: list[dict[str, Any]] = []
    notified: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.rounds):
                # A broker per run: a finished server's persistent session would keep its share
                # of the subscription and take half of the next run's events.
                for mode, rounds, rx in (("plain", plain, None), ("notify", notified, receiver)):
                    with Mosquitto(Path(tmp) / ("broker-%s-%d" % (mode, i))) as broker:
                        rounds.append(one_round(broker.port, Path(tmp), args.cases, args.batch, rx))
    finally:
        receiver.close()
    out["without_notifications"] = median_of(plain)
    out["with_notifications"] = median_of(notified)
    out["ingest_ratio_with_vs_without"] = round(
        out["with_notifications"]["events_per_s"] / out["without_notifications"]["events_per_s"], 3
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
