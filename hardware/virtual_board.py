"""A panic button or door sensor on a PC: the real firmware, a pty as its UART.

The gateway opens :attr:`VirtualBoard.port` with pyserial exactly as it opens a USB serial
adapter. The firmware runs in a background thread on real time (``time.ticks_ms``); pins are
set from the test or demo thread. For logic tests without real time see
:class:`hardware.sim.SimBoard`.
"""

from __future__ import annotations

import os
import random
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware import HardwareError, rf433
from hardware.boardio import BankedIO, PinBank, firmware_config, firmware_modules
from hardware.shims import machine, ticks_add, ticks_diff

_POLL_MS = 5
_HISTORY = 1_000_000
AdvertCallback = Callable[[str, bytes, "int | None"], None]


def _service_data(adv: bytes) -> bytes | None:
    """BTHome service data (UUID 0xFCD2) inside an advertising payload."""
    i = 0
    while i + 1 < len(adv):
        size = adv[i]
        if size == 0:
            break
        if adv[i + 1] == 0x16 and adv[i + 2 : i + 4] == b"\xd2\xfc":
            return adv[i + 4 : i + 1 + size]
        i += 1 + size
    return None


class VirtualScanner:
    """Stands in for a BLE scanner (``gateway.radio.Scanner``): hears the given boards.
    ``VirtualScanner.factory(boards)`` fits where the gateway takes a scanner factory."""

    def __init__(self, boards: list[VirtualBoard], on_advert: AdvertCallback, loss: float = 0.0) -> None:
        self.boards = boards
        self.on_advert = on_advert
        self.loss = loss

    @classmethod
    def factory(
        cls, boards: list[VirtualBoard], loss: float = 0.0
    ) -> Callable[[AdvertCallback], VirtualScanner]:
        return lambda on_advert: cls(boards, on_advert, loss)

    async def start(self) -> None:
        for i, board in enumerate(self.boards):
            board.listen_ble(self.on_advert, loss=self.loss, seed=i)

    async def stop(self) -> None:
        for board in self.boards:
            board.unlisten_ble(self.on_advert)


class VirtualBoard(BankedIO):
    def __init__(
        self,
        app: str,
        node: str,
        state_dir: Path,
        heartbeat_s: float = 60.0,
        battery: int = 87,
        **config: Any,
    ) -> None:
        self.app = app
        self.node = node
        self.state_dir = Path(state_dir)
        self.cfg = firmware_config(app, node, self.state_dir, heartbeat_s, config)
        self._init_io(PinBank(self.cfg, battery))
        self._schedule: list[tuple[float, int | str, int]] = []
        self._sched_lock = threading.Lock()
        self._cond = threading.Condition()
        self._sent: list[bytes] = []
        self._runner: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._master = -1
        self._slave = -1
        self.port = ""
        self.write_drops = 0
        self._steps = 0
        self._settled: tuple[list[tuple[int, str]], list[tuple[int, str]]] = ([], [])
        self._rf_us: int | None = None
        self._listeners: list[tuple[AdvertCallback, float, float, random.Random]] = []
        self._next_radiate: list[float] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Create the pty, boot the firmware and run it in a background thread."""
        if self._thread is not None:
            raise HardwareError("board %s already started" % self.node)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation; the line bytes must arrive as written.
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        # The slave end stays open here too, so the master never sees a hang-up when the
        # gateway closes and reopens the port.
        self.port = os.ttyname(self._slave)
        swmain = firmware_modules()
        machine.bind(self)
        try:
            self._runner = swmain.build(self.cfg, time.ticks_ms())  # type: ignore[attr-defined]
            # Tests and the demo read whole histories; a device keeps only the last few.
            self._runner.node.history = _HISTORY
        finally:
            machine.bind(None)
        self._stopping = False
        self._steps = 0
        self._thread = threading.Thread(
            target=swmain.loop,
            args=(self._runner, int(self.cfg.get("poll_ms", _POLL_MS)), self._between_steps),
            name="board-" + self.node,
            daemon=True,
        )
        self._thread.start()
        # Return once the firmware has sampled its pins (the loop asks should_stop before and
        # after each step, so two calls mean one step): a pin changed right after start()
        # is then an edge, not the state found at boot.
        with self._cond:
            if not self._cond.wait_for(lambda: self._steps > 1, timeout=5):
                raise HardwareError("firmware of board %s did not start" % self.node)

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> VirtualBoard:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------
    def press(self, seconds: float = 2.0, wait: bool = False) -> None:
        """Hold the button for ``seconds``. Returns at once unless ``wait`` is true, in which
        case it returns after the release."""
        now = time.monotonic()
        pin = self._bank.input_pin
        with self._sched_lock:
            self._schedule.append((now, pin, 0))
            self._schedule.append((now + seconds, pin, 1))
        if wait:
            time.sleep(max(0.0, now + seconds - time.monotonic()) + 0.02)

    def open_door(self) -> None:
        self._bank.set_level(self._bank.input_pin, self._bank.door_level(True))

    def close_door(self) -> None:
        self._bank.set_level(self._bank.input_pin, self._bank.door_level(False))

    def rf_transmit(self, code: int, unit_us: int = 350, repeats: int = 8) -> None:
        """A 433 MHz sensor near the bridge sends ``code`` (RF bridge only; non-blocking)."""
        capture = getattr(self._runner, "capture", None)
        if capture is None:
            raise HardwareError("board %s is not an rf_bridge (app=%s)" % (self.node, self.app))
        now = time.ticks_us()  # type: ignore[attr-defined]
        pulses = rf433.transmission(code, unit_us, repeats)
        with self._sched_lock:
            # Edges are stamped in the past so the capture sees the whole burst at once, but
            # never before the end of the previous burst.
            t = ticks_add(now, -sum(us for _, us in pulses))
            if self._rf_us is not None and ticks_diff(t, self._rf_us) < 0:
                t = self._rf_us
            for level, us in pulses:
                capture.edge(level, t, ticks_diff)
                t = ticks_add(t, us)
            capture.edge(1 - pulses[-1][0], t, ticks_diff)
            self._rf_us = t

    def open_lid(self) -> None:
        """Open the enclosure: the tamper switch releases (needs ``tamper=True``)."""
        self._bank.set_level(self._bank.tamper_pin, 1)

    def close_lid(self) -> None:
        self._bank.set_level(self._bank.tamper_pin, 0)

    def set_pin(self, pin: int | str, level: int) -> None:
        self._bank.set_level(pin, level)

    @property
    def battery(self) -> int:
        return self._bank.battery

    @battery.setter
    def battery(self, percent: int) -> None:
        self._bank.battery = percent

    # -- observation -------------------------------------------------------------------------
    @property
    def acks(self) -> list[tuple[int, str]]:
        """(seq, level) acks the firmware has received, in order."""
        return list(getattr(self._runner.node, "acks", [])) if self._runner is not None else []

    @property
    def naks(self) -> list[tuple[int, str]]:
        return list(getattr(self._runner.node, "naks", [])) if self._runner is not None else []

    @property
    def events(self) -> list[tuple[int, str]]:
        """(seq, kind) of every event the firmware raised, in order."""
        return list(self._runner.node.events) if self._runner is not None else []

    @property
    def sent(self) -> list[bytes]:
        """Lines the firmware wrote, retransmissions included."""
        with self._cond:
            return list(self._sent)

    @property
    def errors(self) -> dict[str, int]:
        return dict(getattr(self._runner.node, "errors", {})) if self._runner is not None else {}

    @property
    def led(self) -> int:
        """LED lit (1) or dark (0) right now."""
        level = self._bank.outputs.get(self._bank.pins.get("led"), 0)
        return 1 - level if self._bank.pins.get("led_active_low") else level

    def wait_ack(self, seq: int, level: str, timeout: float) -> bool:
        """True once the firmware has received and fully handled (LED, buzzer) that ack."""
        with self._cond:
            return self._cond.wait_for(lambda: (seq, level) in self._settled[0], timeout)

    def wait_event(self, kind: str, timeout: float, after: int = 0) -> int | None:
        """Seq of the first event of ``kind`` with seq > ``after``, waiting up to ``timeout``."""

        def find() -> int | None:
            for seq, k in self._settled[1]:
                if k == kind and seq > after:
                    return seq
            return None

        with self._cond:
            self._cond.wait_for(lambda: find() is not None, timeout)
        return find()

    # -- BoardIO (firmware thread) -----------------------------------------------------------
    def _between_steps(self) -> bool:
        now = time.monotonic()
        with self._sched_lock:
            due = [item for item in self._schedule if item[0] <= now]
            self._schedule = [item for item in self._schedule if item[0] > now]
        for _, pin, level in due:
            self._bank.set_level(pin, level)
        self._radiate(now)
        node = self._runner.node
        acks = getattr(node, "acks", [])
        with self._cond:
            # Waiters look at what finished steps produced, never at a step half done.
            if len(acks) != len(self._settled[0]) or len(node.events) != len(self._settled[1]):
                self._settled = (list(acks), list(node.events))
            self._steps += 1
            self._cond.notify_all()
        return self._stopping

    # -- BLE air -----------------------------------------------------------------------------
    def listen_ble(
        self, callback: AdvertCallback, interval_s: float = 0.1, loss: float = 0.0, seed: int = 0
    ) -> None:
        """Hear this board's adverts: ``callback(mac, service_data, rssi)`` for every advert
        the radio sends (every ``interval_s`` while one is on air), from the board's thread.
        ``loss`` drops that share of them at random, as BlueZ on a Pi does."""
        with self._adv_lock:
            self._listeners.append((callback, interval_s, loss, random.Random(seed)))
            self._next_radiate.append(0.0)

    def unlisten_ble(self, callback: AdvertCallback) -> None:
        with self._adv_lock:
            for i, item in enumerate(self._listeners):
                if item[0] == callback:
                    del self._listeners[i]
                    del self._next_radiate[i]
                    return

    def _radiate(self, now: float) -> None:
        with self._adv_lock:
            if not self._listeners or not self._adverts or self._adverts[-1][1] is None:
                return
            adv = self._adverts[-1][1]
            data = _service_data(adv)
            due = []
            for i, (callback, interval, loss, rng) in enumerate(self._listeners):
                if now >= self._next_radiate[i]:
                    self._next_radiate[i] = now + interval
                    if rng.random() >= loss:
                        due.append(callback)
        if data is None:
            return
        for callback in due:
            callback(self.mac, data, -60)

    def _advert_time(self) -> float:
        return time.monotonic()

    def uart_read(self, uart: int) -> bytes | None:
        try:
            return os.read(self._master, 4096) or None
        except (BlockingIOError, OSError):
            return None

    def uart_write(self, uart: int, data: bytes) -> int:
        with self._cond:
            self._sent.append(bytes(data))
        try:
            return os.write(self._master, data)
        except (BlockingIOError, OSError):
            # Like a real UART with nobody listening: the bytes are gone, the node retries.
            self.write_drops += 1
            return 0
