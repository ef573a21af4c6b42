"""Device catalog and the virtual board that runs the real firmware on a PC."""

from __future__ import annotations


class HardwareError(Exception):
    """Base of the errors raised by this package."""
