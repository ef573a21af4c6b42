"""The station's siren: local first, it sounds on every new alarm whatever the uplink does,
switches itself off after ``outputs.siren_s``, and answers ``siren`` commands.

The gateway's outputs are put in their safe state (off) when the gateway starts, since a crash
may have left one on with nobody to switch it off, and when it stops, since a stopped gateway
could not end the siren's time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway.config import OutputSettings
from gateway.counters import Counters
from gateway.errors import GatewayError
from gateway.outbox import Incoming
from gateway.outputs import LocalOutputs
from protocol.kinds import Kind, Priority

log = logging.getLogger(__name__)


class Siren:
    def __init__(self, outputs: LocalOutputs, settings: OutputSettings, counters: Counters, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.outputs = outputs
        self.settings = settings
        self.counters = counters
        self.clock = clock
        self._lock = threading.Lock()
        self._until: float | None = None

    @property
    def sounding_until(self) -> float | None:
        with self._lock:
            return self._until

    def safe_state(self) -> None:
        """Every output off, the timer cleared; a failing output is logged and counted."""
        with self._lock:
            self._until = None
        for name in self.outputs.names():
            self._set(name, False, level=logging.INFO)

    def on_new_events(self, items: list[Incoming]) -> None:
        """Sound on an alarm (a device taking its own alarm back is no reason to)."""
        if not self.settings.siren_on_alarm:
            return
        if any(i.effective_priority is Priority.ALARM and i.kind is not Kind.PANIC_CANCEL for i in items):
            with self._lock:
                self._until = self.clock() + self.settings.siren_s
            self.counters.inc("outputs.siren_on_alarm")
            self._set("siren", True)

    def command(self, on: bool) -> None:
        """A ``siren`` command for the gateway itself; raises ``GatewayError`` if the output fails."""
        if not on:
            with self._lock:
                self._until = None
        self.outputs.set("siren", on)

    def tick(self) -> None:
        with self._lock:
            due = self._until is not None and self.clock() >= self._until
            if due:
                self._until = None
        if due:
            self._set("siren", False)

    def _set(self, name: str, on: bool, level: int = logging.WARNING) -> None:
        try:
            self.outputs.set(name, on, level=level)
        except GatewayError as exc:
            self.counters.inc("errors.output")
            log.error("%s", exc)
