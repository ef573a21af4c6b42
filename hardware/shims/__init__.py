"""Lets the unchanged MicroPython firmware import and run under CPython.

:func:`install` registers ``micropython`` and ``machine`` modules, adds the MicroPython tick
functions to :mod:`time` and puts ``firmware/`` on ``sys.path`` (the firmware imports its
modules flat, as on the device).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hardware.shims import bluetooth, machine, micropython

FIRMWARE_DIR = Path(__file__).resolve().parent.parent.parent / "firmware"

# MicroPython's tick counter wraps at 2**30 on every port we ship to; the shim wraps the same
# way so wrap-around bugs show up on a PC too.
TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1_000_000) & _TICKS_MAX


def ticks_us() -> int:
    return (time.monotonic_ns() // 1000) & _TICKS_MAX


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(a: int, b: int) -> int:
    return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)


def install() -> None:
    sys.modules.setdefault("micropython", micropython)
    sys.modules.setdefault("machine", machine)
    sys.modules.setdefault("bluetooth", bluetooth)
    for name, func in (
        ("ticks_ms", ticks_ms),
        ("ticks_us", ticks_us),
        ("ticks_add", ticks_add),
        ("ticks_diff", ticks_diff),
        ("sleep_ms", sleep_ms),
    ):
        if not hasattr(time, name):
            setattr(time, name, func)
    path = str(FIRMWARE_DIR)
    if path not in sys.path:
        sys.path.append(path)
