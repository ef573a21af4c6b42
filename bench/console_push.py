"""Live push to consoles: a case opening -> its server-sent event on every connected console.

Starts Mosquitto and `shouwang server run` (SQLite) as their own processes, connects N console
streams (GET /api/v1/stream, county scope, so every case reaches every console) from this
process with asyncio, then presses alarm buttons one at a time as a gateway would (a new device
each time, so each press opens a case) and records when each console receives the case.

Reported per phase: for each case, the time from its opening (the case's ``opened_at``, set by
the server's clock, which is this machine's) to its arrival on the last of the consoles, and from
the press (the MQTT publish) to the same; medians and p99 over the cases. Phases, in one run:

    baseline   1 console
    consoles   N consoles
    loaded     N consoles while a second gateway drains a heartbeat backlog into the server
               (the server's ingest rate over the phase is reported alongside)

    python bench/console_push.py [--consoles 200] [--presses 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import queue
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.event import Event
from protocol.kinds import Kind
from protocol.payloads import encode_events
from shouwang.local_stack import ServerProcess
from shouwang.mosquitto import Mosquitto

PASSWORD = "Bench-Console-Password-1"
PRESS_GW = "gw-bench-01"
LOAD_GW = "gw-bench-02"
SEED = {
    "regions": [
        {"path": "c01", "name": "县", "level": "county"},
        {"path": "c01/t01", "name": "镇", "level": "township"},
    ],
    "stations": [{"code": "st-bench", "name": "站", "region": "c01/t01"}],
    "gateways": [{"id": PRESS_GW, "station": "st-bench"}, {"id": LOAD_GW, "station": "st-bench"}],
    "devices": [],
    "users": [{"username": "duty-c01", "password": PASSWORD, "role": "duty_officer", "region": "c01"}],
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p90_ms": round(pct(ms, 90), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


class Gateway:
    """Publishes batches as a gateway does and waits for the server's acks."""

    def __init__(self, port: int, gateway: str) -> None:
        self.gateway = gateway
        self.acks: queue.Queue[bytes] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.acks.put(bytes(m.payload))
        ready = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, rc, p: ready.set()
        self.client.connect("127.0.0.1", port)
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.subscribe("sw/v1/gw/%s/ack" % gateway, qos=1)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("no subscription for %s" % gateway)
        self.seq = 0

    def send(self, kind: Kind, devices: list[str]) -> float:
        events = []
        now = datetime.now(UTC)
        for device in devices:
            self.seq += 1
            events.append(Event.create(self.gateway, self.seq, device, kind, now, device_seq=self.seq))
        sent = time.time()
        self.client.publish("sw/v1/gw/%s/events" % self.gateway, encode_events(events), qos=1)
        return sent

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Consoles:
    """N console streams on one asyncio loop in a thread of its own, each a plain HTTP/1.1
    connection read line by line: as little client work per event as a browser tab does, so
    the figures are the server's more than this process's."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.addr = (host, int(port))
        self.token = token
        self.cond = threading.Condition()
        self.arrivals: dict[str, list[float]] = {}  # device -> arrival time per console
        self.opened: dict[str, float] = {}  # device -> the case's opened_at
        self.ready = 0
        self.loop = asyncio.new_event_loop()
        self.tasks: list[asyncio.Task[None]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.thread = threading.Thread(target=self.loop.run_forever, name="consoles", daemon=True)
        self.thread.start()

    async def _one(self) -> None:
        reader, writer = await asyncio.open_connection(*self.addr)
        self.writers.append(writer)
        request = (
            "GET /api/v1/stream HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
            "Accept: text/event-stream\r\n\r\n" % (self.addr[0], self.addr[1], self.token)
        )
        writer.write(request.encode())
        await writer.drain()
        event = b""
        while True:
            line = await reader.readline()
            if not line:
                return
            now = time.time()
            # Chunked transfer framing lines (sizes) are neither events nor data: skipped.
            if line.startswith(b"event: "):
                event = line[7:].strip()
            elif line.startswith(b"data: "):
                if event == b"ready":
                    with self.cond:
                        self.ready += 1
                        self.cond.notify_all()
                elif event == b"case" and b'"case_opened"' in line:
                    change = json.loads(line[6:])
                    device = change["case"]["device"]
                    with self.cond:
                        self.arrivals.setdefault(device, []).append(now)
                        self.opened[device] = parse_time(change["case"]["opened_at"])
                        self.cond.notify_all()
                event = b""

    def connect(self, n: int, timeout: float = 60) -> None:
        want = self.ready + n

        async def start() -> None:
            for _ in range(n):
                self.tasks.append(asyncio.ensure_future(self._one()))

        asyncio.run_coroutine_threadsafe(start(), self.loop).result()
        with self.cond:
            if not self.cond.wait_for(lambda: self.ready >= want, timeout):
                raise RuntimeError("only %d of %d consoles connected" % (self.ready, want))

    def wait_case(self, device: str, count: int, timeout: float = 60) -> tuple[float, float]:
        """(opened at, last arrival) once ``count`` consoles have the device's case."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.arrivals.get(device, ())) >= count, timeout):
                raise TimeoutError("case of %s did not reach %d consoles" % (device, count))
            return self.opened[device], max(self.arrivals[device])

    def close(self) -> None:
        async def stop() -> None:
            for w in self.writers:
                w.close()
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def ingested(base: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("shouwang_events_ingested_total"):
                return float(line.split()[-1])
    return 0.0


def presses(consoles: Consoles, gw: Gateway, n: int, count: int, tag: str) -> dict[str, Any]:
    from_open, from_press = [], []
    for i in range(n):
        device = "sn-%s%04x" % (tag, i)
        pressed = gw.send(Kind.PANIC, [device])
        gw.acks.get(timeout=30)
        opened, last = consoles.wait_case(device, count)
        from_open.append((last - opened) * 1000)
        from_press.append((last - pressed) * 1000)
    return {"case_opened_to_all_consoles": summary(from_open), "press_to_all_consoles": summary(from_press)}


def drain(port: int, stop: threading.Event, sent: list[int]) -> None:
    """A heartbeat backlog from 500 devices, batches of 500, one in flight, until told to stop."""
    gw = Gateway(port, LOAD_GW)
    try:
        b = 0
        while not stop.is_set():
            gw.send(Kind.HEARTBEAT, ["sn-f%03x" % ((b * 500 + i) % 500) for i in range(500)])
            gw.acks.get(timeout=60)
            sent[0] += 500
            b += 1
    finally:
        gw.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--consoles", type=int, default=200)
    parser.add_argument("--presses", type=int, default=100)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": platform.machine(),
        "cores": len(__import__("os").sched_getaffinity(0)),
        "python": platform.python_version(),
        "n_consoles": args.consoles,
        "presses_per_phase": args.presses,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed = work / "seed.json"
        seed.write_text(json.dumps(SEED, ensure_ascii=False), encoding="utf-8")
        with Mosquitto(work / "broker") as broker:
            server = ServerProcess(work / "server", broker.url, seed=seed)
            server.start()
            try:
                token = server.token("duty-c01", PASSWORD)
                gw = Gateway(broker.port, PRESS_GW)
                consoles = Consoles(server.url, token)
                try:
                    consoles.connect(1)
                    out["baseline_1_console"] = presses(consoles, gw, args.presses, 1, "a")
                    consoles.connect(args.consoles - 1)
                    out["consoles"] = presses(consoles, gw, args.presses, args.consoles, "b")
                    stop, sent = threading.Event(), [0]
                    loader = threading.Thread(target=drain, args=(broker.port, stop, sent), daemon=True)
                    before, started = ingested(server.url), time.monotonic()
                    loader.start()
                    time.sleep(1.0)  # the backlog is flowing before the first press
                    loaded = presses(consoles, gw, args.presses, args.consoles, "c")
                    elapsed = time.monotonic() - started
                    after = ingested(server.url)
                    stop.set()
                    loader.join(60)
                    loaded["server_ingest_events_per_s"] = round((after - before) / elapsed, 1)
                    loaded["backlog_events_acked"] = sent[0]
                    out["consoles_with_ingest_load"] = loaded
                finally:
                    consoles.close()
                    gw.close()
            finally:
                server.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
