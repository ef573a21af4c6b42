"""Device catalog, the virtual board that runs the real firmware on a PC, and the demo."""

from __future__ import annotations


class HardwareError(Exception):
    """Base of the errors raised by this package."""
