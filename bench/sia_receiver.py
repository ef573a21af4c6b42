"""SIA DC-09 receiver: frames over loopback TCP and UDP -> stored, committed, then ACKed.

A panel stand-in sends N frames (one Contact ID alarm in ten, the rest periodic test reports
and link tests), each waiting for its ACK before the next, as a panel does. Reported per
transport: frames per second and the ACK round trip (send -> ACK received). The receiver runs
as in the server (listener threads, one frame at a time, a real database); duty alerts go to
a recorder instead of MQTT, so the figure is the receiver's own cost.

    python bench/sia_receiver.py [--frames 500] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from protocol.dc09 import FrameSplitter, encode_message, read_frame  # noqa: E402
from protocol.topics import Topics  # noqa: E402
from server.db.engine import Database  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.db.models import Device  # noqa: E402
from server.metrics import Metrics  # noqa: E402
from server.sia.listener import PanelListener  # noqa: E402
from server.sia.receiver import PanelReceiver  # noqa: E402

ACCOUNT = "BE7C"


class Recorder:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.count += 1


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def frames(n: int, first_seq: int) -> list[bytes]:
    out = []
    for i in range(n):
        seq = (first_seq + i) % 10000
        now = datetime.now(UTC)
        if i % 10 == 0:
            out.append(encode_message("ADM-CID", seq, ACCOUNT, "1130 01 %03d" % (i % 1000), timestamp=now))
        elif i % 10 == 5:
            out.append(encode_message("NULL", seq, ACCOUNT, "", timestamp=now))
        else:
            out.append(encode_message("ADM-CID", seq, ACCOUNT, "1602 00 %03d" % (i % 1000), timestamp=now))
    return out


def run_tcp(address: tuple[str, int], n: int) -> list[float]:
    times = []
    with socket.create_connection(address, timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        splitter = FrameSplitter()
        for frame in frames(n, 1):
            start = time.perf_counter()
            sock.sendall(frame)
            got: list[bytes] = []
            while not got:
                got = splitter.feed(sock.recv(4096))
            times.append(time.perf_counter() - start)
            assert read_frame(got[0]).type == "ACK", got[0]
    return times


def run_udp(address: tuple[str, int], n: int) -> list[float]:
    times = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        for frame in frames(n, 5001):
            start = time.perf_counter()
            sock.sendto(frame, address)
            answer = sock.recvfrom(2048)[0]
            times.append(time.perf_counter() - start)
            assert read_frame(answer).type == "ACK", answer
    return times


def summary(times: list[float]) -> dict[str, Any]:
    return {
        "frames": len(times),
        "frames_per_s": round(len(times) / sum(times), 1),
        "ack_ms": {
            "p50": round(statistics.median(times) * 1000, 2),
            "p90": round(pct(times, 90) * 1000, 2),
            "p99": round(pct(times, 99) * 1000, 2),
            "max": round(max(times) * 1000, 2),
        },
    }


def bench(db_url: str, n: int) -> dict[str, Any]:
    db = Database.open(db_url)
    try:
        upgrade(db.engine)
        with db.write() as s:
            s.merge(Device(id="sia-" + ACCOUNT.lower(), model="sia-panel", name="bench panel"))
        metrics = Metrics()
        recorder = Recorder()
        listener = PanelListener(PanelReceiver(db, recorder, Topics(), metrics), "127.0.0.1", 0)
        address = listener.start()
        try:
            result = {"tcp": summary(run_tcp(address, n)), "udp": summary(run_udp(address, n))}
        finally:
            listener.stop()
        result["events_stored"] = metrics.get("events_ingested")
        result["alerts"] = recorder.count
        result["refused"] = metrics.get("sia_rejected")
        return result
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--postgres", help="postgresql://... (a scratch schema is created and dropped)")
    args = parser.parse_args()
    out: dict[str, Any] = {"bench": "sia_receiver", "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = bench("sqlite:///%s" % Path(tmp, "bench.db"), args.frames)
    if args.postgres:
        import psycopg

        schema = "bench_%s" % uuid.uuid4().hex[:8]
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute('CREATE SCHEMA "%s"' % schema)
        try:
            sep = "&" if "?" in args.postgres else "?"
            url = "%s%soptions=-csearch_path%%3D%s" % (args.postgres, sep, schema)
            out["postgres"] = bench(url, args.frames)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute('DROP SCHEMA "%s" CASCADE' % schema)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
