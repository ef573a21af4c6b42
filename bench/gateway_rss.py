"""Gateway memory: RSS of ``shouwang gateway run`` with 1,000 devices in the allowlist and a
100,000-event backlog, connected to Mosquitto while no server acks (so the in-flight window
is full and the resend timer runs). Peak (VmHWM) and current (VmRSS) after the run settles.

Measured twice in the same run: without the kiosk, and with the kiosk (``[kiosk]``) open on two
clients, each holding the live stream (server-sent events, the whole page state with its 1,000
devices per push) and loading the page's files and state once. Baseline: a Python process that
only imports the same modules. Prints one JSON object.

    python bench/gateway_rss.py [--count 100000] [--seconds 8] [--clients 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from gateway_drain import GW, AckingServer, fill

from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port, wait_port


def mem(pid: int) -> dict[str, float]:
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


class PageClient:
    """One open kiosk page: its files and state once, then the live stream, read until closed."""

    def __init__(self, url: str) -> None:
        for path in ("", "kiosk.js", "kiosk.css", "api/state"):
            with urllib.request.urlopen(url + path, timeout=30) as resp:
                resp.read()
        self.events = 0
        self.bytes = 0
        self._resp = urllib.request.urlopen(url + "api/events", timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._resp:
                self.bytes += len(line)
                if line.startswith(b"data: "):
                    self.events += 1
        except (OSError, ValueError):
            return

    def close(self) -> None:
        self._resp.close()


def run(workdir: Path, broker: Mosquitto, count: int, seconds: float, clients: int) -> dict[str, object]:
    gw_dir = workdir / ("gw-kiosk" if clients else "gw")
    lines = ["[gateway]", 'id = "%s"' % GW, 'data_dir = "%s"' % gw_dir, "[mqtt]",
             'url = "%s"' % broker.url, "resend_after_s = 2.0"]
    port = free_port()
    if clients:
        lines += ["[kiosk]", 'listen = "127.0.0.1:%d"' % port, 'station = "东村服务站"']
    for n in range(1000):
        lines += ["[[devices]]", 'id = "sn-%04x"' % n, 'name = "按钮 %d"' % n, 'model = "sw-panic-button"']
    conf = workdir / ("gateway-kiosk.toml" if clients else "gateway.toml")
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fill(gw_dir / "outbox.db", count)
    watcher = AckingServer(broker.host, broker.port, "sw/v1/gw/%s/events" % GW, None)
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(conf)],
                            stderr=subprocess.DEVNULL)
    pages: list[PageClient] = []
    try:
        if clients:
            wait_port("127.0.0.1", port, timeout=30, process=proc)
            pages = [PageClient("http://127.0.0.1:%d/" % port) for _ in range(clients)]
        time.sleep(seconds)
        gateway = mem(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
        for page in pages:
            page.close()
        received = watcher.received
        watcher.stop()
    return {
        "events_published_unacked": received,
        "gateway_rss_mb": gateway.get("VmRSS"),
        "gateway_peak_rss_mb": gateway.get("VmHWM"),
        **({"pages_open": clients, "stream_events_per_page": [p.events for p in pages],
            "stream_kb_per_page": [round(p.bytes / 1024) for p in pages]} if clients else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        imports_only = ("import gateway.daemon, gateway.cli, gateway.kiosk.hub, gateway.kiosk.web, sys;"
                        " sys.stdin.read()")
        base = subprocess.Popen([sys.executable, "-c", imports_only], stdin=subprocess.PIPE)
        time.sleep(1.5)
        baseline = mem(base.pid)
        base.communicate(b"")
        with Mosquitto(workdir / "broker") as broker:
            without = run(workdir, broker, args.count, args.seconds, 0)
            with_kiosk = run(workdir, broker, args.count, args.seconds, args.clients)
    print(json.dumps({
        "bench": "gateway_rss",
        "devices": 1000,
        "backlog": args.count,
        "without_kiosk": without,
        "with_kiosk": with_kiosk,
        "baseline_imports_only_rss_mb": baseline.get("VmRSS"),
        "python": platform.python_version(),
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
