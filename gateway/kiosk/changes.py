"""A version number that moves whenever what the page shows changed; the live-update streams
wait on it (no polling loop anywhere)."""

from __future__ import annotations

import threading


class Changes:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0
        self._closed = False

    @property
    def version(self) -> int:
        with self._cond:
            return self._version

    def bump(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter for good (the kiosk is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, after: int, timeout: float) -> int | None:
        """The version once it differs from ``after`` (or after ``timeout``, unchanged); None
        once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._version != after, timeout)
            return None if self._closed else self._version
