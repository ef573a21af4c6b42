"""Device catalog: one TOML file per supported device model in ``hardware/catalog/``.

The gateway reads it to turn what a transport hears (a serial event kind, a BTHome object,
a 433 MHz code) into a device id and an event kind, and to know how often a model reports.
The schema is in ``hardware/catalog/README.md``.

    from hardware.catalog import load_catalog
    models = load_catalog()                       # {"sw-panic-button": DeviceModel, ...}
    model = models["ev1527-door"]
    device_id, switch = model.rf_split("ev1527", "1e9f5b")   # ("rf-ev1527-01e9f5", "0b")
    model.kind_for(switch)                                    # Kind.DOOR_OPEN
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware import HardwareError
from protocol.errors import ProtocolError
from protocol.ids import check_device_id
from protocol.kinds import Kind, parse_kind

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
TRANSPORTS = ("serial", "ble", "rf")
IGNORE = "ignore"

_MODEL = re.compile(r"[a-z0-9][a-z0-9-]{1,47}")
_PROTO = re.compile(r"[a-z0-9]{1,16}")
_BLE_TOKEN = re.compile(r"[a-z0-9_]{1,32}=[a-z0-9_.\-]{1,32}")


class CatalogError(HardwareError):
    """A catalog file that does not follow the schema; the message names the file and field."""


@dataclass(frozen=True, slots=True)
class RfRule:
    """How a 433 MHz code splits into the transmitter id and the switch (button/state) bits."""

    protocols: tuple[str, ...]
    code_bits: int
    switch_bits: int
    id_digits: int

    def split(self, protocol: str, code: str | int) -> tuple[str, str]:
        """``("ev1527", "1e9f5b")`` -> ``("rf-ev1527-01e9f5", "0b")``."""
        value = int(code, 16) if isinstance(code, str) else code
        if value < 0 or value >> self.code_bits:
            raise ProtocolError("bad_code", "%s code %r is over %d bits" % (protocol, code, self.code_bits))
        ident = value >> self.switch_bits
        switch = value & ((1 << self.switch_bits) - 1)
        device = check_device_id("rf-%s-%0*x" % (protocol, self.id_digits, ident))
        return device, switch_token(switch)


def switch_token(value: int | str) -> str:
    """Canonical form of an RF switch value: two or more lower-case hex digits (RFLink's
    ``SWITCH=0b``, rtl_433's ``cmd: 12`` -> ``0c``)."""
    number = int(value, 16) if isinstance(value, str) else value
    return "%02x" % number


@dataclass(frozen=True, slots=True)
class DeviceModel:
    model: str
    name: str
    name_zh: str
    vendor: str
    transport: str
    id_format: str
    kinds: frozenset[Kind]
    events: dict[str, Kind | None] = field(default_factory=dict)
    battery: str = ""
    battery_reported: bool = False
    low_battery_pct: int | None = None
    heartbeat_s: int = 0
    supervision_s: int = 0
    rf: RfRule | None = None
    ble_names: tuple[str, ...] = ()
    ble_encrypted: bool = False
    notes: str = ""
    source: Path | None = None

    def kind_for(self, token: str) -> Kind | None:
        """Kind for a source token: a serial kind (``panic``), a BTHome ``object=value``
        (``button=long_press``, ``opening=true``) or an RF switch (``0b``, any hex form).
        None when the model says to ignore the token or does not know it."""
        if self.transport == "serial":
            try:
                kind = parse_kind(token)
            except ProtocolError:
                return None
            return kind if kind in self.kinds else None
        if self.transport == "rf":
            try:
                token = switch_token(token)
            except ValueError:
                return None
        return self.events.get(token)

    def knows(self, token: str) -> bool:
        if self.transport == "serial":
            return self.kind_for(token) is not None
        if self.transport == "rf":
            try:
                token = switch_token(token)
            except ValueError:
                return False
        return token in self.events

    def rf_split(self, protocol: str, code: str | int) -> tuple[str, str]:
        if self.rf is None or protocol not in self.rf.protocols:
            raise ProtocolError("wrong_model", "%s does not speak %s" % (self.model, protocol))
        return self.rf.split(protocol, code)

    @property
    def supervised(self) -> bool:
        return self.supervision_s > 0


def _need(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise CatalogError("%s: missing %r" % (where, key))
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CatalogError("%s: %r must be %s" % (where, key, kind.__name__))
    return value


def _opt(data: dict[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    return _need(data, key, kind, where) if key in data else default


def _kind_or_ignore(value: Any, where: str) -> Kind | None:
    if value == IGNORE:
        return None
    if not isinstance(value, str):
        raise CatalogError("%s: event target must be a kind or %r" % (where, IGNORE))
    try:
        return parse_kind(value)
    except ProtocolError:
        raise CatalogError("%s: unknown kind %r" % (where, value)) from None


_FIELDS = frozenset(
    {
        "model",
        "name",
        "name_zh",
        "vendor",
        "transport",
        "id_format",
        "kinds",
        "events",
        "rf",
        "ble",
        "battery",
        "battery_reported",
        "low_battery_pct",
        "heartbeat_s",
        "supervision_s",
        "notes",
    }
)
_RF_FIELDS = frozenset({"protocols", "code_bits", "switch_bits", "id_digits"})
_BLE_FIELDS = frozenset({"names", "encrypted"})


def _check_fields(data: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CatalogError("%s: unknown field(s) %s" % (where, ", ".join(unknown)))


def parse_model(data: dict[str, Any], where: str = "<catalog>", source: Path | None = None) -> DeviceModel:
    _check_fields(data, _FIELDS, where)
    model = _need(data, "model", str, where)
    if not _MODEL.fullmatch(model):
        raise CatalogError("%s: model %r must be lower case letters, digits and '-'" % (where, model))
    transport = _need(data, "transport", str, where)
    if transport not in TRANSPORTS:
        raise CatalogError("%s: transport %r is not one of %s" % (where, transport, ", ".join(TRANSPORTS)))
    raw_events = _opt(data, "events", dict, {}, where)
    events: dict[str, Kind | None] = {}
    kinds: set[Kind] = set()
    if transport == "serial":
        if raw_events:
            raise CatalogError("%s: serial models list native kinds in 'kinds', not 'events'" % where)
        for item in _need(data, "kinds", list, where):
            kind = _kind_or_ignore(item, where)
            if kind is None:
                raise CatalogError("%s: 'kinds' lists kinds only" % where)
            kinds.add(kind)
    else:
        if not raw_events:
            raise CatalogError("%s: %s models need an [events] table" % (where, transport))
        for token, target in raw_events.items():
            if transport == "rf":
                try:
                    key = switch_token(token)
                except ValueError:
                    raise CatalogError("%s: RF switch %r is not hex" % (where, token)) from None
            else:
                key = token.lower()
                if not _BLE_TOKEN.fullmatch(key):
                    raise CatalogError("%s: BLE event %r must look like object=value" % (where, token))
            if key in events:
                raise CatalogError("%s: event %r listed twice" % (where, token))
            events[key] = _kind_or_ignore(target, where)
        kinds = {k for k in events.values() if k is not None}
        if "kinds" in data:
            raise CatalogError("%s: 'kinds' is derived from [events] for %s models" % (where, transport))
    rf = None
    if transport == "rf":
        table = _need(data, "rf", dict, where)
        _check_fields(table, _RF_FIELDS, where + " [rf]")
        protocols = tuple(_need(table, "protocols", list, where + " [rf]"))
        if not protocols or not all(isinstance(p, str) and _PROTO.fullmatch(p) for p in protocols):
            raise CatalogError("%s: [rf] protocols must be lower-case names" % where)
        code_bits = _need(table, "code_bits", int, where + " [rf]")
        switch_bits = _need(table, "switch_bits", int, where + " [rf]")
        if not 0 < switch_bits < code_bits <= 64:
            raise CatalogError("%s: [rf] needs 0 < switch_bits < code_bits <= 64" % where)
        id_digits = _opt(table, "id_digits", int, (code_bits - switch_bits + 3) // 4, where + " [rf]")
        rf = RfRule(protocols, code_bits, switch_bits, id_digits)
    ble = _opt(data, "ble", dict, {}, where)
    _check_fields(ble, _BLE_FIELDS, where + " [ble]")
    if transport == "ble" and not ble:
        raise CatalogError("%s: ble models need a [ble] table" % where)
    heartbeat_s = _opt(data, "heartbeat_s", int, 0, where)
    supervision_s = _opt(data, "supervision_s", int, 0, where)
    if heartbeat_s < 0 or supervision_s < 0:
        raise CatalogError("%s: heartbeat_s and supervision_s are >= 0" % where)
    if heartbeat_s and supervision_s and supervision_s < 2 * heartbeat_s:
        raise CatalogError("%s: supervision_s must allow at least two missed heartbeats" % where)
    low = _opt(data, "low_battery_pct", int, None, where)
    return DeviceModel(
        model=model,
        name=_need(data, "name", str, where),
        name_zh=_need(data, "name_zh", str, where),
        vendor=_need(data, "vendor", str, where),
        transport=transport,
        id_format=_need(data, "id_format", str, where),
        kinds=frozenset(kinds),
        events=events,
        battery=_opt(data, "battery", str, "", where),
        battery_reported=_opt(data, "battery_reported", bool, False, where),
        low_battery_pct=low,
        heartbeat_s=heartbeat_s,
        supervision_s=supervision_s,
        rf=rf,
        ble_names=tuple(_opt(ble, "names", list, [], where + " [ble]")),
        ble_encrypted=_opt(ble, "encrypted", bool, False, where + " [ble]"),
        notes=_opt(data, "notes", str, "", where),
        source=source,
    )


def load_model(path: Path) -> DeviceModel:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError("%s: %s" % (path.name, exc)) from None
    model = parse_model(data, path.name, path)
    if path.stem != model.model:
        raise CatalogError("%s: file name must be the model name (%s.toml)" % (path.name, model.model))
    return model


def load_catalog(path: Path | None = None) -> dict[str, DeviceModel]:
    """Every ``*.toml`` in ``path`` (default: the catalog shipped with the package), by model."""
    folder = CATALOG_DIR if path is None else Path(path)
    if not folder.is_dir():
        raise CatalogError("catalog folder %s does not exist" % folder)
    return {m.model: m for m in (load_model(p) for p in sorted(folder.glob("*.toml")))}
