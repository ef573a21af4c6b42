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
    - BLE: ``"<event name>:<event>"`` (``"button:press"``) or ``"<state>:true|false"``.
    """

    id: str
    transport: str  # serial | ble | rf
    device_class: str  # panic_button, door_sensor, keyfob, thermometer, motion, smoke...
    heartbeat_s: float | None = None  # silence longer than this -> device_missing; None: not supervised
    codes: dict[str, Kind | None] = field(default_factory=dict)
    low_battery_pct: int = 20


_BUTTON_PANIC: dict[str, Kind | None] = {
    "button:press": Kind.PANIC,
    "button:double_press": Kind.PANIC,
    "button:triple_press": Kind.PANIC,
    "button:long_press": Kind.PANIC,
    "button:hold_press": Kind.PANIC,
}
_DOOR_STATES: dict[str, Kind | None] = {
    "opening:true": Kind.DOOR_OPEN,
    "opening:false": Kind.DOOR_CLOSE,
    "window:true": Kind.DOOR_OPEN,
    "window:false": Kind.DOOR_CLOSE,
    "door:true": Kind.DOOR_OPEN,
    "door:false": Kind.DOOR_CLOSE,
}
_TAMPER: dict[str, Kind | None] = {
    "tamper:true": Kind.TAMPER,
    "tamper:false": Kind.TAMPER_RESTORE,
    "battery_low:true": Kind.LOW_BATTERY,
    "battery_low:false": Kind.BATTERY_OK,
}

BUILTIN: dict[str, Model] = {m.id: m for m in (
    Model("sw-panic-button", "serial", "panic_button", heartbeat_s=2 * 3600.0),
    Model("sw-door-sensor", "serial", "door_sensor", heartbeat_s=2 * 3600.0),
    Model("sw-rf-bridge", "serial", "rf_bridge", heartbeat_s=2 * 3600.0),
    Model("sw-ble-button", "ble", "panic_button", heartbeat_s=26 * 3600.0,
          codes={**_BUTTON_PANIC, **_TAMPER}),
    Model("shelly-blu-button1", "ble", "panic_button", codes=dict(_BUTTON_PANIC)),
    Model("shelly-blu-door-window", "ble", "door_sensor", codes={**_DOOR_STATES, **_TAMPER}),
    Model("bthome-motion", "ble", "motion", codes={"motion:true": Kind.INTRUSION, "motion:false": None}),
    Model("bthome-smoke", "ble", "smoke", codes={"smoke:true": Kind.FIRE, "smoke:false": None}),
    Model("atc-thermometer", "ble", "thermometer", heartbeat_s=3600.0),
    # EV1527 door contact as sold in bulk: 0x0a open, 0x0e closed, 0x07 case opened.
    Model("ev1527-door", "rf", "door_sensor",
          codes={"0a": Kind.DOOR_OPEN, "0e": Kind.DOOR_CLOSE, "07": Kind.TAMPER}),
    Model("ev1527-panic", "rf", "panic_button"),
    # SC2260 four-button keyfob (rtl_433 "Generic-Remote"): arm, disarm, home, SOS.
    Model("sc2260-keyfob", "rf", "keyfob",
          codes={"c0": None, "30": None, "c": None, "3": Kind.PANIC}),
)}

GENERIC = {
    "serial": Model("generic-serial", "serial", "node", heartbeat_s=2 * 3600.0),
    "ble": Model("generic-bthome", "ble", "bthome", codes={**_BUTTON_PANIC, **_DOOR_STATES, **_TAMPER,
                                                         "smoke:true": Kind.FIRE}),
    "rf": Model("generic-rf", "rf", "rf"),
}


def _from_catalog(entry: Any) -> Model | None:
    """Adapt an entry of ``hardware.catalog`` to ``Model``; None when it does not fit."""
    get = entry.get if isinstance(entry, dict) else (lambda k, d=None: getattr(entry, k, d))
    ident = get("id") or get("model")
    transport = get("transport")
    if not isinstance(ident, str) or transport not in ("serial", "ble", "rf"):
        return None
    codes: dict[str, Kind | None] = {}
    raw_codes = get("codes") or get("events") or {}
    if isinstance(raw_codes, dict):
        for code, kind in raw_codes.items():
            try:
                codes[str(code).lower()] = Kind(kind) if kind else None
            except ValueError:
                log.warning("catalog model %s: unknown kind %r for code %s", ident, kind, code)
    heartbeat = get("heartbeat_s")
    return Model(
        id=ident,
        transport=transport,
        device_class=str(get("device_class") or get("class") or get("kind") or transport),
        heartbeat_s=float(heartbeat) if isinstance(heartbeat, (int, float)) and heartbeat > 0 else None,
        codes=codes,
        low_battery_pct=int(get("low_battery_pct") or 20),
    )


class Catalog:
    def __init__(self, models: dict[str, Model] | None = None) -> None:
        self.models: dict[str, Model] = dict(BUILTIN if models is None else models)

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
        entries = loaded.values() if isinstance(loaded, dict) else loaded
        for entry in entries:
            model = _from_catalog(entry)
            if model is not None:
                cat.models[model.id] = model
        return cat

    def model(self, model_id: str, transport: str) -> Model:
        found = self.models.get(model_id)
        if found is not None and found.transport == transport:
            return found
        return GENERIC[transport]
