"""``rtl_433 -F json`` output, one JSON object per line. Pure, no I/O.

Each decoder names its fields differently; what matters here is ``model`` and ``id`` (the
transmitter) and the field that says which button or state was sent (``cmd``, ``button``,
``code``, ``state``, ``event``...). rtl_433 prints one line per decoded repeat, so a single
press usually arrives several times; collapsing repeats is the gateway's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import ProtocolError
from protocol.ids import rf_device_id

# Fields that carry "what was sent", in order of preference.
CODE_FIELDS = ("cmd", "button", "code", "event", "state", "alarm", "tamper", "data")
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
    code = next((_hexish(obj[k]) for k in CODE_FIELDS if k in obj), "0")
    return Rtl433Packet(model=model, id=ident_text, code=code, fields=obj)
