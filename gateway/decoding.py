"""From radio packets to events: BTHome adverts and 433 MHz codes, with the state that
rejects replays and collapses repeats. No I/O: the live adapters and ``shouwang gateway
decode`` feed the same objects, so the technician sees exactly what the gateway would do."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog import model_of
from gateway.config import DeviceSettings
from gateway.outbox import BleMemory
from hardware.catalog import Catalog
from protocol import serial_line as sl
from protocol.bthome import decode_bthome
from protocol.errors import ProtocolError
from protocol.ids import ble_device_id
from protocol.kinds import Kind

_INSTANCE = re.compile(r"_[0-9]+$")  # button_2 -> button
DeviceLookup = Callable[[str], DeviceSettings | None]

# Repeats of one identical advert without a packet id within this window are one advert.
BLE_REPEAT_WINDOW_S = 5.0
# rtl_433 prints each repeat of a press (about 60 ms apart); RFLink and our bridge repeat too.
RF_REPEAT_WINDOW_S = 1.5
# EV1527 and PT2262 share one air format: the bridge labels every code with the first, and adds
# ``tri=<12 symbols>`` when the code is also a valid PT2262 tristate code.
PT2262 = "pt2262"


@dataclass(frozen=True, slots=True)
class Decoded:
    device: str
    kind: Kind | None  # None: a reading with no event in it (kept for the decode tool)
    data: dict[str, Any] = field(default_factory=dict)
    device_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device, "kind": self.kind.value if self.kind else None,
                               "data": self.data}
        if self.device_seq is not None:
            out["device_seq"] = self.device_seq
        return out


@dataclass(frozen=True, slots=True)
class Rejected:
    device: str | None
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "rejected": self.reason, "detail": self.detail}


Outcome = Decoded | Rejected


def _fallback_kind(dev: DeviceSettings | None) -> Kind | None:
    """A device configured with an event kind (``kind = "panic"``) turns any code its model
    does not list into that kind: single-code transmitters such as a panic pendant need no
    code table."""
    if dev is None or not dev.kind:
        return None
    try:
        return Kind(dev.kind)
    except ValueError:
        return None


@dataclass(slots=True)
class _BleState:
    counter: int | None = None
    packet_id: int | None = None
    last_raw: bytes = b""
    last_raw_at: float = 0.0
    states: dict[str, bool] = field(default_factory=dict)


class BleTracker:
    """Per-device BTHome state: replay and duplicate rejection, and events from changes.

    Sensors re-advertise their current state over and over; only a change of a binary state
    (or a button event in a new packet) is an event, never the cached value itself. A state
    seen for the very first time is an event too, marked ``first_seen``: with no baseline there
    is no telling whether it just changed. The counter and the states are what must survive a
    restart (``restore``); ``take_unsaved`` hands over what changed since the last call, for
    the caller to store once the events it produced are committed.
    """

    def __init__(self, lookup: DeviceLookup, catalog: Catalog, *, clock: Callable[[], float] = time.monotonic,
                 keys: dict[str, bytes] | None = None, allow_unknown: bool = False) -> None:
        self.lookup = lookup
        self.catalog = catalog
        self.clock = clock
        self.keys = dict(keys or {})
        self.allow_unknown = allow_unknown
        self._state: dict[str, _BleState] = {}
        self._unsaved: set[str] = set()

    def restore(self, memory: Iterable[BleMemory]) -> None:
        for m in memory:
            st = self._state.setdefault(m.device, _BleState())
            if m.counter is not None:
                st.counter = m.counter
            st.states.update(m.states)

    def take_unsaved(self) -> list[BleMemory]:
        out = [BleMemory(d, self._state[d].counter, dict(self._state[d].states))
               for d in sorted(self._unsaved)]
        self._unsaved.clear()
        return out

    def feed(self, mac: str, service_data: bytes, rssi: int | None = None) -> list[Outcome]:
        try:
            device = ble_device_id(mac)
        except ProtocolError as exc:
            return [Rejected(None, exc.reason, exc.detail)]
        dev = self.lookup(device)
        if dev is None and not self.allow_unknown:
            return [Rejected(device, "unknown_device", service_data.hex())]
        key = self.keys.get(device) or (bytes.fromhex(dev.key) if dev and dev.key else None)
        try:
            advert = decode_bthome(service_data, mac, key)
        except ProtocolError as exc:
            return [Rejected(device, exc.reason, exc.detail)]
        st = self._state.setdefault(device, _BleState())
        now = self.clock()
        if advert.counter is not None:
            if st.counter is not None and advert.counter <= st.counter:
                if advert.counter == st.counter and service_data == st.last_raw:
                    return [Rejected(device, "duplicate", "counter %d" % advert.counter)]
                return [Rejected(device, "replayed_counter", "%d <= %d" % (advert.counter, st.counter))]
            st.counter = advert.counter
            self._unsaved.add(device)
        elif advert.packet_id is not None:
            if advert.packet_id == st.packet_id:
                return [Rejected(device, "duplicate", "packet id %d" % advert.packet_id)]
        elif service_data == st.last_raw and now - st.last_raw_at < BLE_REPEAT_WINDOW_S:
            return [Rejected(device, "duplicate", "same advert within %.0f s" % BLE_REPEAT_WINDOW_S)]
        st.packet_id = advert.packet_id
        st.last_raw, st.last_raw_at = service_data, now

        model = model_of(self.catalog, dev)
        base: dict[str, Any] = {}
        for name in ("battery", "temperature", "humidity"):
            if name in advert.values:
                base[name] = advert.values[name]
        if rssi is not None:
            base["rssi"] = rssi
        if advert.packet_id is not None:
            base["packet_id"] = advert.packet_id
        out: list[Outcome] = []
        for name, event in advert.events.items():
            token = "%s=%s" % (_INSTANCE.sub("", name), event)
            if model is not None and model.knows(token):
                kind = model.kind_for(token)
                if kind is None:
                    continue  # the model says: known, never an event
            else:
                kind = _fallback_kind(dev)
            if kind is not None or dev is None:  # an unknown device (decode): shown, kind null
                out.append(Decoded(device, kind, {**base, "button": name, "event": event}, advert.counter))
            else:
                out.append(Rejected(device, "unmapped_code", "%s=%s" % (name, event)))
        for name, value in advert.values.items():
            if not isinstance(value, bool):
                continue
            before = st.states.get(name)
            if before == value:
                continue  # the same state again is a cached value, not an event
            st.states[name] = value
            self._unsaved.add(device)
            token = "%s=%s" % (name, "true" if value else "false")
            kind = model.kind_for(token) if model is not None else None
            if kind is None:
                continue
            data = {**base, name: value}
            if before is None:
                data["first_seen"] = True
            out.append(Decoded(device, kind, data, advert.counter))
        if not out:
            out.append(Decoded(device, None, {**base, **{k: v for k, v in advert.values.items()
                                                         if k not in base}}, advert.counter))
        return out


class RfMapper:
    """433 MHz codes -> events through the device's model; repeats within a window count once."""

    def __init__(self, lookup: DeviceLookup, catalog: Catalog, *, clock: Callable[[], float] = time.monotonic,
                 window_s: float = RF_REPEAT_WINDOW_S, allow_unknown: bool = False) -> None:
        self.lookup = lookup
        self.catalog = catalog
        self.clock = clock
        self.window_s = window_s
        self.allow_unknown = allow_unknown
        self._last: dict[tuple[str, str], float] = {}

    def feed(self, device: str, code: str, data: dict[str, Any] | None = None) -> list[Outcome]:
        """A code a receiver already split into transmitter and switch (RFLink, rtl_433)."""
        now = self.clock()
        key = (device, code)
        last = self._last.get(key)
        self._last[key] = now  # sliding: a long burst of repeats stays one press
        if len(self._last) > 4096:
            self._last = {k: t for k, t in self._last.items() if now - t < self.window_s}
        if last is not None and now - last < self.window_s:
            return [Rejected(device, "duplicate", "repeat of %s" % code)]
        dev = self.lookup(device)
        if dev is None and not self.allow_unknown:
            return [Rejected(device, "unknown_device", code)]
        model = model_of(self.catalog, dev)
        payload = {"code": code, **(data or {})}
        if model is not None and model.knows(code):
            return [Decoded(device, model.kind_for(code), payload)]
        fallback = _fallback_kind(dev)
        if fallback is not None:
            return [Decoded(device, fallback, payload)]
        if dev is None:
            return [Decoded(device, None, payload)]
        return [Rejected(device, "unmapped_code", code)]

    def feed_tokens(self, device: str, tokens: Sequence[str],
                    data: dict[str, Any] | None = None) -> list[Outcome]:
        """Every event token of one receiver packet: its switch code and its sensor fields
        (``smokealert=on``, ``battery_ok=0``), each looked up on its own. A packet with none
        (a reading only) still shows, as code ``0``."""
        out: list[Outcome] = []
        for token in tokens or ("0",):
            out.extend(self.feed(device, token, data))
        return out

    def feed_code(self, protocols: Sequence[str], code: str,
                  data: dict[str, Any] | None = None) -> list[Outcome]:
        """A whole code (our RF bridge's ``RF`` line), split by the catalog's rule for each
        protocol it may be in: the bridge names ``ev1527`` and, when the code is also a valid
        PT2262 tristate code, ``pt2262`` as well. The candidate on the allowlist wins; with
        none allowed, every candidate is reported (all of them are shown for pairing)."""
        candidates: list[tuple[str, str]] = []
        problems: list[str] = []
        for protocol in protocols:
            try:
                candidates.append(self.catalog.rf_split(protocol, code))
            except ProtocolError as exc:
                problems.append(exc.detail or exc.reason)
        if not candidates:
            return [Rejected(None, "bad_code", "; ".join(problems))]
        for device, switch in candidates:
            if self.lookup(device) is not None:
                return self.feed(device, switch, data)
        out: list[Outcome] = []
        for device, switch in candidates:
            out.extend(self.feed(device, switch, data))
        return out


def bridge_protocols(msg: sl.SerialRfCode) -> tuple[str, ...]:
    """The protocols an ``RF`` line's code may be in: the bridge's label, and PT2262 too when
    the bridge found the code to be a valid PT2262 tristate code."""
    if "tri" in msg.data and msg.proto != PT2262:
        return msg.proto, PT2262
    return (msg.proto,)
