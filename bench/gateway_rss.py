"""Gateway memory: RSS of ``shouwang gateway run`` with 1,000 devices in the allowlist and a
100,000-event backlog, connected to Mosquitto while no server acks (so the in-flight window
is full and the resend timer runs). Peak (VmHWM) and current (VmRSS) after the run settles.
Baseline in the same run: a Python process that only imports the same modules.
Prints one JSON object.

    python bench/gateway_rss.py [--count 100000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway_drain import GW, AckingServer, fill

from shouwang.mosquitto import Mosquitto


def mem(pid: int) -> dict[str, float]:
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        imports_only = "import gateway.daemon, gateway.cli, sys; sys.stdin.read()"
        base = subprocess.Popen([sys.executable, "-c", imports_only], stdin=subprocess.PIPE)
        time.sleep(1.5)
        baseline = mem(base.pid)
        base.communicate(b"")
        broker = Mosquitto(workdir / "broker")
        broker.start()
        try:
            lines = ["[gateway]", 'id = "%s"' % GW, 'data_dir = "%s"' % (workdir / "gw"), "[mqtt]",
                     'url = "%s"' % broker.url, "resend_after_s = 2.0"]
            for n in range(1000):
                lines += ["[[devices]]", 'id = "sn-%04x"' % n, 'name = "按钮 %d"' % n,
                          'model = "sw-panic-button"']
            conf = workdir / "gateway.toml"
            conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
            fill(workdir / "gw" / "outbox.db", args.count)
            watcher = AckingServer(broker.host, broker.port, "sw/v1/gw/%s/events" % GW, None)
            proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(conf)],
                                    stderr=subprocess.DEVNULL)
            time.sleep(args.seconds)
            gateway = mem(proc.pid)
            proc.terminate()
            proc.wait(10)
            received = watcher.received
            watcher.stop()
        finally:
            broker.stop()
    print(json.dumps({
        "bench": "gateway_rss",
        "devices": 1000,
        "backlog": args.count,
        "events_published_unacked": received,
        "gateway_rss_mb": gateway.get("VmRSS"),
        "gateway_peak_rss_mb": gateway.get("VmHWM"),
        "baseline_imports_only_rss_mb": baseline.get("VmRSS"),
        "python": platform.python_version(),
    }, indent=1))


if __name__ == "__main__":
    main()
