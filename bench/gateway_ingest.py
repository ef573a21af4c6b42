"""Durable ingest: framed serial lines -> gateway line handler -> outbox commit -> ``stored`` ack.

Runs the gateway's own code path (``NodeLines.handle`` and the group-committing writer on a
real SQLite file in WAL mode) for N lines from 1,000 nodes, and counts an event only when its
``stored`` ack has been produced, which happens after the commit. Baseline in the same run:
raw SQLite ``executemany`` of the same number of rows in batches on the same disk, with the same
pragmas. A third figure pushes the lines through a real pty and the serial reader thread.
Prints one JSON object.

    python bench/gateway_ingest.py [--count 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from gateway.config import DeviceSettings, SerialSettings
from gateway.counters import Counters
from gateway.outbox import Outbox
from gateway.registry import Registry
from gateway.serial_adapter import NodeLines, SerialPort
from gateway.store import OutboxWriter
from protocol import serial_line as sl
from protocol.kinds import Kind

NODES = 1000


def make_lines(count: int) -> list[bytes]:
    kinds = [Kind.HEARTBEAT, Kind.DOOR_OPEN, Kind.DOOR_CLOSE, Kind.PANIC]
    return [sl.encode(sl.SerialEvent("%04x" % (i % NODES), i // NODES + 1, kinds[i % 4],
                                     {"battery": 80 + i % 20}))
            for i in range(count)]


def baseline(workdir: Path, count: int, batch: int = 500) -> float:
    conn = sqlite3.connect(str(workdir / "raw.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE ev (seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT, device_seq INTEGER,"
                 " kind TEXT, at TEXT, data TEXT)")
    rows = [("sn-%04x" % (i % NODES), i // NODES + 1, "heartbeat", "2026-11-23T08:00:00.000Z",
             '{"battery":87}') for i in range(count)]
    start = time.perf_counter()
    for i in range(0, count, batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO ev (device, device_seq, kind, at, data) VALUES (?,?,?,?,?)",
                         rows[i:i + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed


def setup(workdir: Path, name: str) -> tuple[Counters, Registry, Outbox, OutboxWriter]:
    counters = Counters()
    registry = Registry([DeviceSettings("sn-%04x" % n) for n in range(NODES)])
    box = Outbox(workdir / name, "gw-bench")
    writer = OutboxWriter(box, counters)
    return counters, registry, box, writer


def gateway_path(workdir: Path, lines: list[bytes]) -> dict[str, float]:
    counters, registry, box, writer = setup(workdir, "outbox.db")
    acks = [0]
    done = threading.Event()
    target = len(lines)

    def write(data: bytes) -> None:
        acks[0] += 1
        if acks[0] == target:
            done.set()

    handler = NodeLines(writer, registry, counters, write)
    writer.start()
    start = time.perf_counter()
    for line in lines:
        handler.handle(line)
    done.wait()
    elapsed = time.perf_counter() - start
    writer.stop()
    commits = counters.get("commits")
    box.close()
    return {"events_per_s": round(target / elapsed), "commits": commits,
            "events_per_commit": round(target / max(commits, 1), 1)}


def pty_path(workdir: Path, lines: list[bytes]) -> dict[str, float]:
    counters, registry, box, writer = setup(workdir, "outbox-pty.db")
    master, slave = os.openpty()
    port = SerialPort(SerialSettings(os.ttyname(slave), 115200), counters)
    acks = [0]
    done = threading.Event()
    target = len(lines)

    def write(data: bytes) -> None:
        acks[0] += 1
        if acks[0] == target:
            done.set()

    port.handler = NodeLines(writer, registry, counters, write).handle
    writer.start()
    port.start()
    port.wait_open(10)
    blob = b"".join(lines)
    start = time.perf_counter()
    view = memoryview(blob)
    while view:
        n = os.write(master, view[:4096])
        view = view[n:]
    done.wait(120)
    elapsed = time.perf_counter() - start
    port.stop()
    writer.stop()
    box.close()
    os.close(master)
    os.close(slave)
    return {"events_per_s": round(acks[0] / elapsed), "stored": acks[0],
            "dropped": counters.group("dropped"), "errors": counters.group("errors")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    args = ap.parse_args()
    lines = make_lines(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        raw = baseline(workdir, args.count)
        gw = gateway_path(workdir, lines)
        pty = pty_path(workdir, lines)
    print(json.dumps({
        "bench": "gateway_ingest",
        "events": args.count,
        "nodes": NODES,
        "gateway_line_to_commit": gw,
        "gateway_over_pty": pty,
        "baseline_raw_sqlite_batched_insert_per_s": round(raw),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
    }, indent=1))


if __name__ == "__main__":
    main()
