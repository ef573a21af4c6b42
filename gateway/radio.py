"""Radio receivers that are not serial ports: BLE (bleak, passive scan) and rtl_433.

Both run on their own thread and hand raw items (service data, JSON lines) to a callback;
decoding happens in ``gateway.decoding`` so the ``decode`` tool shares it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from gateway.config import BleSettings
from gateway.counters import Counters

log = logging.getLogger(__name__)

BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
AdvertFn = Callable[[str, bytes, "int | None"], None]


class Scanner(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


ScannerFactory = Callable[[AdvertFn], Scanner]


def bleak_scanner(adapter: str) -> ScannerFactory:
    def make(on_advert: AdvertFn) -> Scanner:
        from bleak import BleakScanner
        from bleak.args.bluez import BlueZScannerArgs, OrPattern
        from bleak.assigned_numbers import AdvertisementDataType

        def detected(device: Any, adv: Any) -> None:
            data = adv.service_data.get(BTHOME_UUID)
            if data:
                on_advert(device.address, bytes(data), adv.rssi)

        # BlueZ only scans passively with an advertisement monitor pattern; match BTHome's
        # 16-bit service data UUID (0xFCD2, little endian).
        args = BlueZScannerArgs(or_patterns=[OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16,
                                                       b"\xd2\xfc")])
        kwargs: dict[str, Any] = {"adapter": adapter} if adapter else {}
        scanner: Scanner = BleakScanner(detection_callback=detected, scanning_mode="passive", bluez=args,
                                        **kwargs)
        return scanner

    return make


class BleScanner:
    """Passive scanning with a watchdog: BlueZ on a Pi sometimes stops reporting adverts
    without any error, so silence longer than ``watchdog_s`` restarts the scan."""

    def __init__(self, settings: BleSettings, on_advert: AdvertFn, counters: Counters, *,
                 factory: ScannerFactory | None = None, clock: Callable[[], float] = time.monotonic,
                 poll_s: float = 1.0) -> None:
        self.settings = settings
        self.on_advert = on_advert
        self.counters = counters
        self.factory = factory or bleak_scanner(settings.adapter)
        self.clock = clock
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._last = clock()
        self._thread = threading.Thread(target=self._thread_main, name="ble-scan", daemon=True)
        self.scanning = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _advert(self, mac: str, data: bytes, rssi: int | None) -> None:
        self._last = self.clock()
        self.counters.inc("ble.adverts")
        try:
            self.on_advert(mac, data, rssi)
        except Exception:
            self.counters.inc("errors.handler")
            log.exception("BLE advert handler failed")

    def _thread_main(self) -> None:
        import asyncio  # only a gateway with BLE on runs an event loop (and loads asyncio)

        asyncio.run(self._main())

    async def _pause(self, seconds: float) -> None:
        """Sleep, but notice ``stop()`` within a tenth of a second."""
        import asyncio

        end = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.1, max(0.0, end - time.monotonic())))

    async def _main(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                scanner = self.factory(self._advert)
                await scanner.start()
            except Exception as exc:  # bleak/D-Bus errors of every flavour enter here
                self.counters.inc("ble.errors")
                wait = min(delay, self.poll_s * 10)
                log.warning("BLE scan could not start: %s; retrying in %.1f s", exc, wait)
                await self._pause(wait)
                delay = min(delay * 2, 60.0)
                continue
            delay = 1.0
            self._last = self.clock()
            self.scanning.set()
            self.counters.inc("ble.scans")
            try:
                while not self._stop.is_set():
                    await self._pause(self.poll_s)
                    if self.clock() - self._last > self.settings.watchdog_s:
                        self.counters.inc("ble.watchdog_restarts")
                        log.warning("no BLE advert for %.0f s: restarting the scan", self.settings.watchdog_s)
                        break
            finally:
                self.scanning.clear()
                try:
                    await scanner.stop()
                except Exception as exc:
                    log.warning("BLE scan did not stop cleanly: %s", exc)


class LineProcess:
    """A receiver program (``rtl_433 -F json``) whose stdout is one item per line; restarted
    with backoff when it exits (SDR dongles get unplugged, drivers crash)."""

    def __init__(self, command: tuple[str, ...], on_line: Callable[[bytes], None], counters: Counters,
                 name: str = "rtl433") -> None:
        self.command = command
        self.on_line = on_line
        self.counters = counters
        self.name = name
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                with self._lock:
                    self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
                proc = self._proc
            except OSError as exc:
                self.counters.inc("%s.errors" % self.name)
                log.warning("cannot start %s: %s; retrying in %.0f s", self.command[0], exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
                continue
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    try:
                        self.on_line(line)
                    except Exception:
                        self.counters.inc("errors.handler")
                        log.exception("%s line handler failed", self.name)
            proc.stdout.close()
            code = proc.wait()
            if self._stop.is_set():
                return
            self.counters.inc("%s.exits" % self.name)
            log.warning("%s exited with %s; restarting in %.0f s", self.command[0], code, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, 60.0)

