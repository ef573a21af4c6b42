"""``rtl_433 -F json`` output, one JSON object per line. Pure, no I/O.

Each decoder names its fields differently; what matters here is ``model`` and ``id`` (the
transmitter) and the field that says which button or state was sent (``cmd``, ``button``,
``code``, ``state``, ``event``...). rtl_433 prints one line per decoded repeat, so a single
press usually arrives several times; collapsing repeats is the gateway's job.

Remotes say which button (``cmd``, ``button``, ``code``, ``data``): that value is the packet's
switch ``code`` (hex, as the catalog writes switches). Sensors say what they sense with fields
(``alarm``, ``tamper``, ``battery_ok``, ``event``, ``state``, ``contact_open``, ``motion``...):
each becomes a token ``<field>=<value>`` (``alarm=1``, ``battery_ok=0``, ``state=open``), which
the device catalog maps to a kind. Everything else (``temperature_C``, ``rssi``...) is a reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import ProtocolError
from protocol.ids import rf_device_id

# Fields that carry "which button was pressed", in order of preference.
CODE_FIELDS = ("cmd", "button", "code", "data")
# Fields that carry a sensor's state: each is an event token of its own.
STATE_FIELDS = (
    "alarm", "tamper", "battery_ok", "event", "state", "contact_open", "reed_open", "motion",
    "smoke", "water", "leak", "alert",
)
# Fields that describe the packet rather than what the sensor says.
_META_FIELDS = frozenset({"time", "model", "id", "address", "channel", "subtype", "mic", "mod", "protocol",
                          "tristate", *CODE_FIELDS, *STATE_FIELDS})
_MODEL = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True, slots=True)
class Rtl433Packet:
    model: str
    id: str
    code: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        """``Generic-Remote`` -> ``genericremote`` (the ``rf-<protocol>-`` part of the device id)."""
        return _MODEL.sub("", self.model.lower())[:16] or "rtl433"

    @property
    def state_tokens(self) -> tuple[str, ...]:
        """``("alarm=1", "battery_ok=0")``, in the order of ``STATE_FIELDS``."""
        fields = self.fields
        return tuple("%s=%s" % (name, _state(fields[name])) for name in STATE_FIELDS if name in fields)

    @property
    def tokens(self) -> tuple[str, ...]:
        """Everything that may be an event: the switch code when a remote sent one, then the
        state tokens."""
        switch = (self.code,) if any(k in self.fields for k in CODE_FIELDS) else ()
        return switch + self.state_tokens

    @property
    def readings(self) -> dict[str, Any]:
        """The other fields (``{"temperature_C": 21.5, "rssi": -7.1}``)."""
        return {k: v for k, v in self.fields.items() if k not in _META_FIELDS}

    @property
    def device_id(self) -> str:
        try:
            return rf_device_id(self.protocol, self.id)
        except ProtocolError:
            raise ProtocolError("bad_id", "%s id=%s" % (self.model, self.id)) from None


def _hexish(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "%02x" % value if value >= 0 else "m%02x" % -value
    return str(value).lower()


def _state(value: Any) -> str:
    """A state field's value as a token part: booleans and numbers as ``1``/``0`` (a fractional
    ``battery_ok`` level counts as good from 0.5 up), strings in lower case."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "1" if value >= 0.5 else "0"
    return str(value).strip().lower().replace(" ", "_")


def parse_rtl433(line: str | bytes) -> Rtl433Packet:
    """Raise ``ProtocolError``: ``bad_json``, ``not_packet`` (no model), ``no_id``."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("bad_json", str(exc)) from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_json", "not an object")
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise ProtocolError("not_packet", "no model")
    ident = obj.get("id", obj.get("address"))
    if ident is None or isinstance(ident, (bool, float, dict, list)):
        raise ProtocolError("no_id", "%s without an integer or string id" % model)
    ident_text = format(ident, "x") if isinstance(ident, int) else str(ident).lower()
    if not re.fullmatch(r"[0-9a-f]{1,16}", ident_text):
        raise ProtocolError("no_id", "%s id %r is not hex" % (model, ident))
    code = next((_hexish(obj[k]) for k in CODE_FIELDS if k in obj), None)
    if code is None:
        states = [name for name in STATE_FIELDS if name in obj]
        code = "%s=%s" % (states[0], _state(obj[states[0]])) if states else "0"
    return Rtl433Packet(model=model, id=ident_text, code=code, fields=obj)
