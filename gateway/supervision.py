"""Device supervision: silence -> ``device_missing`` (and ``device_back``), battery level ->
``low_battery``/``battery_ok``. The clock is injected; nothing here sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.catalog import model_of
from gateway.decoding import Decoded
from gateway.registry import Registry
from hardware.catalog import Catalog
from protocol.kinds import Kind

BATTERY_HYSTERESIS = 5  # percent above the threshold before a low battery counts as fixed


@dataclass(slots=True)
class _Watch:
    last_seen: float
    missing: bool = False
    battery_low: bool = False


class Supervisor:
    def __init__(self, registry: Registry, catalog: Catalog, clock: Callable[[], float]) -> None:
        self.registry = registry
        self.catalog = catalog
        self.clock = clock
        self._lock = threading.Lock()
        self._watch: dict[str, _Watch] = {}
        self._started = clock()

    def _rules(self, device: str) -> tuple[float | None, int | None]:
        """The device's supervision timeout and low-battery threshold, from its catalog model;
        None where the model has none (or the device has no model)."""
        model = model_of(self.catalog, self.registry.get(device))
        if model is None:
            return None, None
        return (float(model.supervision_s) if model.supervised else None), model.low_battery_pct

    def heard(self, device: str, data: dict[str, Any] | None = None) -> list[Decoded]:
        """A message from ``device`` arrived (any kind): it is alive; check its battery."""
        now = self.clock()
        out: list[Decoded] = []
        _, low_pct = self._rules(device)
        with self._lock:
            w = self._watch.get(device)
            if w is None:
                w = self._watch[device] = _Watch(now)
            silent_for = now - w.last_seen
            w.last_seen = now
            if w.missing:
                w.missing = False
                out.append(Decoded(device, Kind.DEVICE_BACK, {"silent_s": round(silent_for)}))
            battery = (data or {}).get("battery")
            if low_pct is not None and isinstance(battery, (int, float)) and not isinstance(battery, bool):
                if not w.battery_low and battery < low_pct:
                    w.battery_low = True
                    out.append(Decoded(device, Kind.LOW_BATTERY, {"battery": battery}))
                elif w.battery_low and battery >= low_pct + BATTERY_HYSTERESIS:
                    w.battery_low = False
                    out.append(Decoded(device, Kind.BATTERY_OK, {"battery": battery}))
        return out

    def check(self) -> list[Decoded]:
        """Every known device with a heartbeat timeout that has been silent too long."""
        now = self.clock()
        out: list[Decoded] = []
        for dev in self.registry.known():
            timeout, _ = self._rules(dev.id)
            if timeout is None:
                continue
            with self._lock:
                # A device never heard since start is measured from the start.
                w = self._watch.setdefault(dev.id, _Watch(self._started))
                if not w.missing and now - w.last_seen > timeout:
                    w.missing = True
                    out.append(Decoded(dev.id, Kind.DEVICE_MISSING,
                                       {"silent_s": round(now - w.last_seen), "timeout_s": round(timeout)}))
        return out

    def heard_at(self, device: str) -> float | None:
        """When the device was last heard (this clock), any message; None: not since the start."""
        with self._lock:
            w = self._watch.get(device)
            return w.last_seen if w is not None and w.last_seen != self._started else None

    def missing(self) -> list[str]:
        with self._lock:
            return sorted(d for d, w in self._watch.items() if w.missing)
