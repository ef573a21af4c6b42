"""Device models: how a model's codes and states become event kinds, and how often it must
be heard. Uses ``hardware.catalog.load_catalog()`` when that package is installed, and a small
built-in table otherwise (and for models the catalog does not list)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from protocol.kinds import Kind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Model:
    """``codes`` maps what a device sends to a kind (``None`` = known but not an event):

    - RF: the code under the transmitter id (``"06"``, ``"c0"``...);
    - BLE: ``"<event name>:<event>"`` (``"button=press"``) or ``"<state>:true|false"``.
    """

    id: str
    transport: str  # serial | ble | rf
    device_class: str  # panic_button, door_sensor, keyfob, thermometer, motion, smoke...
    supervision_s: float | None = None  # silence longer than this -> device_missing; None: not supervised
    codes: dict[str, Kind | None] = field(default_factory=dict)
    low_battery_pct: int = 20


_BUTTON_PANIC: dict[str, Kind | None] = {
    "button=press": Kind.PANIC,
    "button=double_press": Kind.PANIC,
    "button=triple_press": Kind.PANIC,
    "button=long_press": Kind.PANIC,
    "button=hold_press": Kind.PANIC,
}
_DOOR_STATES: dict[str, Kind | None] = {
    "opening=true": Kind.DOOR_OPEN,
    "opening=false": Kind.DOOR_CLOSE,
    "window=true": Kind.DOOR_OPEN,
    "window=false": Kind.DOOR_CLOSE,
    "door=true": Kind.DOOR_OPEN,
    "door=false": Kind.DOOR_CLOSE,
}
_TAMPER: dict[str, Kind | None] = {
    "tamper=true": Kind.TAMPER,
    "tamper=false": Kind.TAMPER_RESTORE,
    "battery_low=true": Kind.LOW_BATTERY,
    "battery_low=false": Kind.BATTERY_OK,
}

BUILTIN: dict[str, Model] = {m.id: m for m in (
    Model("sw-panic-button", "serial", "panic_button", supervision_s=2 * 3600.0),
    Model("sw-door-sensor", "serial", "door_sensor", supervision_s=2 * 3600.0),
    Model("sw-rf-bridge", "serial", "rf_bridge", supervision_s=2 * 3600.0),
    Model("sw-ble-button", "ble", "panic_button", supervision_s=26 * 3600.0,
          codes={**_BUTTON_PANIC, **_TAMPER}),
    Model("shelly-blu-button1", "ble", "panic_button", codes=dict(_BUTTON_PANIC)),
    Model("shelly-blu-door-window", "ble", "door_sensor", codes={**_DOOR_STATES, **_TAMPER}),
    Model("bthome-motion", "ble", "motion", codes={"motion=true": Kind.INTRUSION, "motion=false": None}),
    Model("bthome-smoke", "ble", "smoke", codes={"smoke=true": Kind.FIRE, "smoke=false": None}),
    Model("atc-thermometer", "ble", "thermometer", supervision_s=3600.0),
    Model("ev1527-door", "rf", "door_sensor",
          codes={"0b": Kind.DOOR_OPEN, "03": Kind.DOOR_CLOSE, "0e": Kind.DOOR_OPEN, "07": Kind.TAMPER,
                 "06": Kind.LOW_BATTERY}),
    Model("ev1527-panic", "rf", "panic_button"),
    # SC2260 four-button keyfob (rtl_433 "Generic-Remote"): arm, disarm, home, SOS.
    Model("sc2260-keyfob", "rf", "keyfob",
          codes={"c0": None, "30": None, "0c": None, "03": Kind.PANIC}),
)}

GENERIC = {
    "serial": Model("generic-serial", "serial", "node", supervision_s=2 * 3600.0),
    "ble": Model("generic-bthome", "ble", "bthome", codes={**_BUTTON_PANIC, **_DOOR_STATES, **_TAMPER,
                                                         "smoke=true": Kind.FIRE}),
    "rf": Model("generic-rf", "rf", "rf"),
}


def _from_catalog(entry: Any) -> Model | None:
    """Adapt a ``hardware.catalog.DeviceModel`` to ``Model``; None when it does not fit."""
    ident = getattr(entry, "model", None)
    transport = getattr(entry, "transport", None)
    if not isinstance(ident, str) or transport not in ("serial", "ble", "rf"):
        return None
    codes: dict[str, Kind | None] = {}
    events = getattr(entry, "events", {}) or {}
    if isinstance(events, dict):
        for token, kind in events.items():
            codes[str(token).lower()] = kind if isinstance(kind, Kind) else None
    supervision = getattr(entry, "supervision_s", 0)
    low = getattr(entry, "low_battery_pct", None)
    return Model(
        id=ident,
        transport=transport,
        device_class=str(getattr(entry, "name", "") or transport),
        supervision_s=float(supervision) if isinstance(supervision, int | float) and supervision > 0
        else None,
        codes=codes,
        low_battery_pct=int(low) if isinstance(low, int) else 20,
    )


class Catalog:
    def __init__(self, models: dict[str, Model] | None = None) -> None:
        self.models: dict[str, Model] = dict(BUILTIN if models is None else models)
        self.from_catalog = False

    @classmethod
    def load(cls) -> Catalog:
        cat = cls()
        try:
            from hardware.catalog import load_catalog  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            return cat
        try:
            loaded = load_catalog()
        except Exception as exc:  # a broken data file must not stop alarms from flowing
            log.error("device catalog unusable, using built-in models: %s", exc)
            return cat
        for entry in loaded.values():
            model = _from_catalog(entry)
            if model is not None:
                cat.models[model.id] = model
                cat.from_catalog = True
        return cat

    @property
    def source(self) -> str:
        return "hardware/catalog" if self.from_catalog else "built-in"

    def model(self, model_id: str, transport: str) -> Model:
        found = self.models.get(model_id)
        if found is not None and found.transport == transport:
            return found
        return GENERIC[transport]
