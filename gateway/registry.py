"""The device allowlist, the unknown devices seen (for pairing) and where to reach each node."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from gateway.config import DeviceSettings

MAX_UNKNOWN = 500


@dataclass(frozen=True, slots=True)
class Sighting:
    device: str
    transport: str
    first_seen: float
    last_seen: float
    count: int
    detail: str = ""


class Registry:
    def __init__(self, devices: Iterable[DeviceSettings] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, DeviceSettings] = {d.id: d for d in devices}
        self._unknown: dict[str, Sighting] = {}
        self._routes: dict[str, object] = {}
        self.clock = clock

    def replace_devices(self, devices: Iterable[DeviceSettings]) -> None:
        with self._lock:
            self._known = {d.id: d for d in devices}
            for ident in self._known:
                self._unknown.pop(ident, None)

    def add(self, device: DeviceSettings) -> None:
        with self._lock:
            self._known[device.id] = device
            self._unknown.pop(device.id, None)

    def get(self, device: str) -> DeviceSettings | None:
        with self._lock:
            return self._known.get(device)

    def is_known(self, device: str) -> bool:
        with self._lock:
            return device in self._known

    def known(self) -> list[DeviceSettings]:
        with self._lock:
            return list(self._known.values())

    def saw_unknown(self, device: str, transport: str, detail: str = "") -> Sighting:
        now = self.clock()
        with self._lock:
            prior = self._unknown.get(device)
            if prior is None:
                seen = Sighting(device, transport, now, now, 1, detail)
            else:
                seen = replace(prior, last_seen=now, count=prior.count + 1, detail=detail or prior.detail)
            self._unknown[device] = seen
            if len(self._unknown) > MAX_UNKNOWN:
                # Neighbours' sensors must not grow this without bound: forget the stalest.
                stalest = min(self._unknown.values(), key=lambda u: u.last_seen)
                del self._unknown[stalest.device]
            return seen

    def unknown(self) -> list[Sighting]:
        with self._lock:
            return sorted(self._unknown.values(), key=lambda s: -s.last_seen)

    def set_route(self, device: str, route: object) -> None:
        with self._lock:
            self._routes[device] = route

    def route(self, device: str) -> object | None:
        with self._lock:
            return self._routes.get(device)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"known": len(self._known), "unknown_seen": len(self._unknown)}
