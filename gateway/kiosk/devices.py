"""What the devices page shows of each allowed device: battery, signal, when it was last heard,
missing and tamper. Learnt from the events the outbox commits (their ``battery`` and ``rssi``
data, the tamper and supervision kinds) and from supervision's own record of who was heard; the
states are written to ``kiosk.db`` every few seconds, so a restart keeps them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from gateway.kiosk.db import KioskDb
from gateway.outbox import Incoming
from protocol.event import format_time
from protocol.kinds import Kind

SCHEMA = """
CREATE TABLE IF NOT EXISTS device_states (
    device TEXT NOT NULL PRIMARY KEY,
    state  TEXT NOT NULL
) WITHOUT ROWID
"""
# Kinds a person acts on; a heartbeat only moves "last heard".
NOTABLE = frozenset({Kind.TAMPER, Kind.TAMPER_RESTORE, Kind.DEVICE_MISSING, Kind.DEVICE_BACK,
                     Kind.LOW_BATTERY, Kind.BATTERY_OK})


@dataclass(frozen=True, slots=True)
class DeviceState:
    last_event_at: str | None = None  # the last event the device sent (any kind, heartbeats too)
    last_kind: str | None = None
    battery: int | None = None  # percent
    rssi: int | None = None  # dBm, radio devices only
    tamper: bool = False
    missing: bool = False
    low_battery: bool = False


def _number(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value)
    return None


class DeviceStates:
    def __init__(self, db: KioskDb) -> None:
        self.db = db
        db.ensure(SCHEMA)
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        with db.read() as conn:
            rows = conn.execute("SELECT device, state FROM device_states").fetchall()
        self._states: dict[str, DeviceState] = {}
        for device, text in rows:
            try:
                self._states[device] = DeviceState(**json.loads(text))
            except (ValueError, TypeError):
                continue  # a row from another version: the next event rewrites it

    def observe(self, items: Iterable[Incoming]) -> bool:
        """Committed events; True when a state a person would act on changed (tamper, missing,
        battery low), as opposed to a heartbeat's time."""
        notable = False
        with self._lock:
            for item in items:
                prior = self._states.get(item.device, DeviceState())
                state = replace(prior, last_event_at=format_time(item.at), last_kind=item.kind.value)
                battery, rssi = _number(item.data.get("battery")), _number(item.data.get("rssi"))
                if battery is not None:
                    state = replace(state, battery=battery)
                if rssi is not None:
                    state = replace(state, rssi=rssi)
                if item.kind in (Kind.TAMPER, Kind.TAMPER_RESTORE):
                    state = replace(state, tamper=item.kind is Kind.TAMPER)
                elif item.kind in (Kind.DEVICE_MISSING, Kind.DEVICE_BACK):
                    state = replace(state, missing=item.kind is Kind.DEVICE_MISSING)
                elif item.kind in (Kind.LOW_BATTERY, Kind.BATTERY_OK):
                    state = replace(state, low_battery=item.kind is Kind.LOW_BATTERY)
                notable = notable or item.kind in NOTABLE
                self._states[item.device] = state
                self._dirty.add(item.device)
        return notable

    def get(self, device: str) -> DeviceState:
        with self._lock:
            return self._states.get(device, DeviceState())

    def save(self) -> None:
        """Write the states that changed since the last save (from the kiosk's own thread)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = [(d, json.dumps(asdict(self._states[d]), separators=(",", ":"))) for d in dirty]
        if not rows:
            return
        try:
            with self.db.write() as conn:
                conn.executemany("INSERT OR REPLACE INTO device_states (device, state) VALUES (?, ?)", rows)
        except Exception:
            with self._lock:
                self._dirty |= dirty
            raise


def heard_at(monotonic_seen: float | None, monotonic_now: float, now: datetime) -> str | None:
    """Supervision's monotonic 'last heard' as a wall-clock time for the page."""
    if monotonic_seen is None:
        return None
    return format_time(now.fromtimestamp(now.timestamp() - (monotonic_now - monotonic_seen), tz=now.tzinfo))
