"""A background thread that runs one step every ``interval`` seconds until stopped.

The deadline loop and the panel supervisor keep their state in the database, so a step that
fails is logged and simply tried again at the next tick: the loop itself never dies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, name: str, interval: float, step: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self.step = step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.step()
                except Exception:
                    log.exception("%s: a tick failed (tried again at the next)", self.name)

        self._stop.clear()
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
