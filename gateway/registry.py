"""The device allowlist and where to reach each node (the unknown devices heard are kept by
``gateway.unknown_devices``)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from gateway.config import DeviceSettings


class Registry:
    def __init__(self, devices: Iterable[DeviceSettings] = ()) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, DeviceSettings] = {d.id: d for d in devices}
        self._routes: dict[str, object] = {}

    def replace_devices(self, devices: Iterable[DeviceSettings]) -> None:
        with self._lock:
            self._known = {d.id: d for d in devices}

    def add(self, device: DeviceSettings) -> None:
        with self._lock:
            self._known[device.id] = device

    def get(self, device: str) -> DeviceSettings | None:
        with self._lock:
            return self._known.get(device)

    def is_known(self, device: str) -> bool:
        with self._lock:
            return device in self._known

    def known(self) -> list[DeviceSettings]:
        with self._lock:
            return list(self._known.values())

    def set_route(self, device: str, route: object) -> None:
        with self._lock:
            self._routes[device] = route

    def route(self, device: str) -> object | None:
        with self._lock:
            return self._routes.get(device)

    def count(self) -> int:
        with self._lock:
            return len(self._known)
