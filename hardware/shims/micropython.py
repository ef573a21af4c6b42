"""CPython stand-in for MicroPython's ``micropython`` module."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def const(value: T) -> T:
    return value


def kbd_intr(char: int) -> None:
    """No keyboard interrupt to configure on a PC."""
