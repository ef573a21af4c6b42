"""CPython stand-in for MicroPython's ``machine`` module, as far as the firmware uses it.

Several virtual boards share one process, each running its firmware in its own thread; the
``Pin``/``UART``/``ADC`` constructors find the board of the calling thread (see
:func:`bind`), so the firmware's ``machine.Pin(4, ...)`` reaches that board's pin 4.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol


class BoardIO(Protocol):
    def pin_level(self, pin: int | str) -> int: ...

    def set_output(self, pin: int | str, level: int) -> None: ...

    def uart_read(self, uart: int) -> bytes | None: ...

    def uart_write(self, uart: int, data: bytes) -> int: ...

    def adc_read_u16(self, pin: int | str) -> int: ...

    def set_irq(self, pin: int | str, handler: Callable[[Any], None] | None) -> None: ...

    def ble_mac(self) -> bytes: ...

    def ble_advertise(self, interval_us: int | None, adv_data: bytes | None) -> None: ...


_local = threading.local()


def bind(board: BoardIO | None) -> None:
    """Make ``board`` the hardware seen by ``machine`` calls from the current thread."""
    _local.board = board


def _board() -> BoardIO:
    board: BoardIO | None = getattr(_local, "board", None)
    if board is None:
        raise RuntimeError("no virtual board bound to this thread (hardware.shims.machine.bind)")
    return board


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, pin_id: int | str, mode: int = -1, pull: int = -1, value: int | None = None) -> None:
        self.id = pin_id
        self._board = _board()
        self.mode = mode
        if value is not None:
            self._board.set_output(pin_id, value)

    def value(self, level: int | None = None) -> int | None:
        if level is None:
            return self._board.pin_level(self.id)
        self._board.set_output(self.id, 1 if level else 0)
        return None

    def irq(self, handler: Callable[[Any], None] | None = None, trigger: int = 0, hard: bool = False) -> None:
        self._board.set_irq(self.id, handler)

    def on(self) -> None:
        self._board.set_output(self.id, 1)

    def off(self) -> None:
        self._board.set_output(self.id, 0)


class UART:
    def __init__(self, uart_id: int, baudrate: int = 115200, **_options: object) -> None:
        self.id = uart_id
        self.baudrate = baudrate
        self._board = _board()

    def read(self, nbytes: int = -1) -> bytes | None:
        return self._board.uart_read(self.id)

    def write(self, data: bytes) -> int:
        return self._board.uart_write(self.id, data)

    def any(self) -> int:
        return 0


class ADC:
    def __init__(self, pin: Pin | int) -> None:
        self._pin: int | str = pin.id if isinstance(pin, Pin) else pin
        self._board = _board()

    def read_u16(self) -> int:
        return self._board.adc_read_u16(self._pin)


class WDT:
    def __init__(self, id: int = 0, timeout: int = 5000) -> None:
        self.timeout = timeout

    def feed(self) -> None:
        pass


def lightsleep(ms: int | None = None) -> None:
    pass


def reset() -> None:
    raise SystemExit("machine.reset() on a virtual board")
