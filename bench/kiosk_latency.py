"""Kiosk latency: a panic line written on a pty -> the alarm on the station's page.

Starts Mosquitto and `shouwang gateway run` with its kiosk on a pty, opens the kiosk's live
stream (server-sent events) and, with --browser, the page itself in Chromium at 800x480. Sends N
panic lines one at a time from a scripted node and times each until the stream carries it (the
card's press count moves) and until the page shows it. Baseline in the same run: the stored ack
on the serial line (line written -> `AK ... stored` read back), the part of the path before the
kiosk. Prints one JSON object.

    python bench/kiosk_latency.py [--count 50] [--browser]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from hardware.scripted_node import ScriptedNode
from protocol.kinds import Kind
from shouwang.local_stack import GatewayDevice, GatewayProcess, write_gateway_config
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port, wait_port


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))], 1),
        "max_ms": round(max(ms), 1),
    }


class Stream:
    """The kiosk's live stream, read on a thread: when each press count of the card arrived."""

    def __init__(self, url: str) -> None:
        self.cond = threading.Condition()
        self.presses: dict[int, float] = {}
        self._resp = urllib.request.urlopen(url + "api/events", timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self._resp:
            line = raw.decode("utf-8")
            if not line.startswith("data: "):
                continue
            now = time.perf_counter()
            state = json.loads(line[6:])
            with self.cond:
                for alarm in state["alarms"]:
                    if alarm["device"] == "sn-00a3" and not alarm["closed"]:
                        self.presses.setdefault(alarm["repeats"] + 1, now)
                self.cond.notify_all()

    def wait(self, presses: int, timeout: float = 10.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: presses in self.presses, timeout):
                raise TimeoutError("press %d never reached the stream" % presses)
            return self.presses[presses]

    def close(self) -> None:
        self._resp.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--browser", action="store_true", help="also time the page in Chromium")
    args = parser.parse_args()
    stream_ms: list[float] = []
    page_ms: list[float] = []
    stored_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="shouwang-bench-") as tmp:
        workdir = Path(tmp)
        with Mosquitto(workdir / "broker") as broker:
            node = ScriptedNode("00a3")
            port = free_port()
            config = write_gateway_config(
                workdir / "gw" / "gateway.toml", "gw-dongcun-01", workdir / "gw", broker.url, [node.port],
                [GatewayDevice("sn-00a3", "sw-panic-button", "bench button")],
                extra='\n[kiosk]\nlisten = "127.0.0.1:%d"\nstation = "bench"\n' % port)
            gateway = GatewayProcess(config, workdir / "gw" / "gateway.log")
            gateway.start()
            page: Any = None
            playwright: Any = None
            try:
                wait_port("127.0.0.1", port, timeout=30, process=gateway.proc)
                url = "http://127.0.0.1:%d/" % port
                stream = Stream(url)
                if args.browser:
                    from playwright.sync_api import sync_playwright

                    playwright = sync_playwright().start()
                    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
                    page = browser.new_page(viewport={"width": 800, "height": 480})
                    page.goto(url)
                for n in range(1, args.count + 1):
                    start = time.perf_counter()
                    mono = time.monotonic()
                    seq = node.send(Kind.PANIC, {"battery": 90})
                    stream_ms.append((stream.wait(n) - start) * 1000)
                    if page is not None:
                        # The card's line "共按 N 次" (N presses) shows the press; the first one
                        # is the card itself.
                        text = "共按 %d 次" % n if n > 1 else "bench button"
                        page.wait_for_selector("article.card >> text=%s" % text, timeout=10_000)
                        page_ms.append((time.perf_counter() - start) * 1000)
                    if node.wait_acked([seq], "stored", timeout=10):
                        stored_ms.append((node.acks[seq]["stored"] - mono) * 1000)
                stream.close()
            finally:
                if playwright is not None:
                    playwright.stop()
                gateway.stop()
                node.close()
    print(json.dumps({
        "bench": "kiosk_latency",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "serial_line_to_kiosk_stream": summary(stream_ms),
        "serial_line_to_card_in_chromium": summary(page_ms) if page_ms else None,
        "baseline_serial_line_to_stored_ack": summary(stored_ms) if stored_ms else None,
    }, indent=2))


if __name__ == "__main__":
    main()
