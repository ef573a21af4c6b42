"""CPython stand-in for MicroPython's ``micropython`` module."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def const(value: T) -> T:
    return value
