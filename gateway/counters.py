"""Thread-safe named counters, readable in-process and published in the status payload."""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    """Names are dotted tokens such as ``dropped.bad_crc`` or ``stored``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def get(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._values.items()))

    def group(self, prefix: str) -> dict[str, int]:
        """``group("dropped")`` -> ``{"bad_crc": 2, ...}``."""
        head = prefix + "."
        with self._lock:
            return {k[len(head):]: v for k, v in sorted(self._values.items()) if k.startswith(head)}
