"""The virtual board on an injected clock: the real firmware stepped through a scripted pin
timeline, with no threads, ptys or sleeping. For logic tests (debounce, long press, retry
and backoff, sequence numbers over a reboot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.boardio import BankedIO, PinBank, firmware_config, firmware_modules
from hardware.shims import machine, ticks_add, ticks_diff

Responder = Callable[[int, bytes], list[bytes]]


class SimBoard(BankedIO):
    """``SimBoard(app, node, state_dir, **config)``; times are ms on the board's own clock.

    ``responder(now_ms, line)`` plays the gateway: it is called with every line the firmware
    writes and returns the lines to send back (delivered on the next step).
    """

    def __init__(
        self,
        app: str,
        node: str,
        state_dir: Path,
        heartbeat_s: float = 3600.0,
        battery: int = 87,
        responder: Responder | None = None,
        step_ms: int = 5,
        start_ms: int = 0,
        **config: Any,
    ) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.cfg = firmware_config(app, node, Path(state_dir), heartbeat_s, config)
        self._init_io(PinBank(self.cfg, battery))
        self.responder = responder
        self.step_ms = step_ms
        self.now_ms = start_ms
        self.sent: list[tuple[int, bytes]] = []
        self._timeline: list[tuple[int, int | str, int]] = []
        self._inbox: list[bytes] = []
        self._rf_us = 0
        swmain = firmware_modules()
        machine.bind(self)
        try:
            self.runner: Any = swmain.build(self.cfg, self.now_ms)
            self.runner.node.history = 1_000_000  # whole histories for tests
        finally:
            machine.bind(None)

    @property
    def node(self) -> Any:
        return self.runner.node

    @property
    def input_pin(self) -> int | str:
        return self._bank.input_pin

    @property
    def battery(self) -> int:
        return self._bank.battery

    @battery.setter
    def battery(self, percent: int) -> None:
        self._bank.battery = percent

    def at(self, t_ms: int, level: int, pin: int | str | None = None) -> None:
        """Set ``pin`` (default: the button / reed input) to ``level`` at board time ``t_ms``."""
        self._timeline.append((t_ms, self._bank.input_pin if pin is None else pin, level))
        self._timeline.sort(key=lambda item: item[0])

    def hold(self, start_ms: int, duration_ms: int) -> None:
        """A press of the button: low from ``start_ms`` for ``duration_ms``."""
        self.at(start_ms, 0)
        self.at(start_ms + duration_ms, 1)

    def lid(self, t_ms: int, is_open: bool) -> None:
        """Open or close the enclosure (tamper switch) at ``t_ms``."""
        self.at(t_ms, 1 if is_open else 0, self._bank.tamper_pin)

    def output(self, name: str) -> int:
        """Level of the ``led`` or ``buzzer`` pin right now."""
        return self._bank.outputs.get(self._bank.pins[name], 0)

    def door(self, t_ms: int, is_open: bool) -> None:
        self.at(t_ms, self._bank.door_level(is_open))

    def rf(self, pulses: list[tuple[int, int]]) -> None:
        """Pulses from the 433 MHz receiver (RF bridge only), as the pin IRQ would record
        them; decoded on the next step. Pulse times run on their own microsecond clock."""
        capture = self.runner.capture
        # The air was quiet since the last burst: the clock catches up with board time.
        if ticks_diff(self.now_ms * 1000, self._rf_us) > 0:
            self._rf_us = self.now_ms * 1000
        for level, us in pulses:
            capture.edge(level, self._rf_us, ticks_diff)
            self._rf_us = ticks_add(self._rf_us, us)
        capture.edge(1 - pulses[-1][0], self._rf_us, ticks_diff)

    def inject(self, line: bytes) -> None:
        """Bytes for the firmware's UART, read on the next step."""
        self._inbox.append(line)

    def run_until(self, t_ms: int) -> None:
        while self.now_ms <= t_ms:
            while self._timeline and self._timeline[0][0] <= self.now_ms:
                _, pin, level = self._timeline.pop(0)
                self._bank.set_level(pin, level)
            # The firmware sees the tick counter as a device has it: wrapping at 2**30.
            self.runner.step(ticks_add(self.now_ms, 0))
            self.now_ms += self.step_ms

    def lines(self) -> list[bytes]:
        return [line for _, line in self.sent]

    # -- BoardIO ---------------------------------------------------------------------------
    def _advert_time(self) -> float:
        return self.now_ms

    def uart_read(self, uart: int) -> bytes | None:
        if not self._inbox:
            return None
        data = b"".join(self._inbox)
        self._inbox = []
        return data

    def uart_write(self, uart: int, data: bytes) -> int:
        self.sent.append((self.now_ms, bytes(data)))
        if self.responder is not None:
            self._inbox.extend(self.responder(self.now_ms, bytes(data)))
        return len(data)
