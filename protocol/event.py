"""The event model shared by gateway and server (contract: docs/protocol.md, section 1)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from protocol.errors import ProtocolError
from protocol.ids import check_device_id, check_gateway_id
from protocol.kinds import DEFAULT_PRIORITY, Kind, Priority, parse_kind, parse_priority

VERSION = 1
# Sequence numbers (the gateway's and the device's) fit a signed 64-bit column.
MAX_SEQ = 2**63 - 1
INT64_MIN, INT64_MAX = -(2**63), MAX_SEQ
MAX_DATA_DEPTH = 16  # containers nested in ``data`` (``{"a": [1]}`` is 2)
MAX_EVENT_DATA = 2048  # bytes of one event's ``data``, as compact UTF-8 JSON
_SEQ = re.compile(r"[0-9]{1,19}")
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def format_time(at: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: ``2026-11-23T08:00:00.123Z``."""
    if at.tzinfo is None:
        raise ProtocolError("naive_time", "timestamps must carry a timezone")
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (at.microsecond // 1000)


def parse_time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ProtocolError("bad_time", repr(value)) from None
    if at.tzinfo is None:
        raise ProtocolError("bad_time", "no timezone in %r" % value)
    try:
        return at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ProtocolError("bad_time", "%r is out of range in UTC" % value) from None


def check_data(data: dict[str, Any]) -> None:
    """Event data is JSON that every reader can store and send on: finite numbers
    (``non_finite``), text that is Unicode (``unencodable``: lone surrogates have no UTF-8), at
    most ``MAX_EVENT_DATA`` bytes (``data_too_large``) and ``MAX_DATA_DEPTH`` levels
    (``data_too_deep``)."""
    if data:
        encode_data(data)


def encode_data(data: dict[str, Any]) -> str:
    """``data`` as compact JSON text, checked as ``check_data`` says. One pass of the C
    encoder; the depth is walked only when the text holds a container."""
    try:
        text = _ENCODE(data)
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except UnicodeEncodeError:  # (a ValueError too, so first)
        raise ProtocolError("unencodable", "data holds text that is not Unicode") from None
    except ValueError as exc:  # NaN or an infinity (allow_nan=False)
        raise ProtocolError("non_finite", str(exc)[:80]) from None
    except RecursionError:
        raise ProtocolError("data_too_deep", "more than %d levels" % MAX_DATA_DEPTH) from None
    if size > MAX_EVENT_DATA:
        raise ProtocolError("data_too_large", "%d bytes, at most %d" % (size, MAX_EVENT_DATA))
    if ("[" in text or "{" in text[1:]) and _depth(data) > MAX_DATA_DEPTH:
        raise ProtocolError("data_too_deep", "more than %d levels" % MAX_DATA_DEPTH)
    return text


def _depth(data: dict[str, Any]) -> int:
    depth, level = 1, [v for v in data.values() if isinstance(v, dict | list)]
    while level and depth <= MAX_DATA_DEPTH:
        depth += 1
        nested: list[Any] = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            nested.extend(v for v in items if isinstance(v, dict | list))
        level = nested
    return depth


def event_id(gateway: str, seq: int) -> str:
    return "%s:%d" % (gateway, seq)


@dataclass(frozen=True, slots=True)
class Event:
    gateway: str
    seq: int
    device: str
    kind: Kind
    at: datetime
    priority: Priority
    device_seq: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        gateway: str,
        seq: int,
        device: str,
        kind: Kind,
        at: datetime,
        device_seq: int | None = None,
        data: dict[str, Any] | None = None,
        priority: Priority | None = None,
    ) -> Event:
        return cls(
            gateway=gateway,
            seq=seq,
            device=device,
            kind=kind,
            at=at,
            priority=priority or DEFAULT_PRIORITY[kind],
            device_seq=device_seq,
            data=dict(data or {}),
        )

    @property
    def id(self) -> str:
        return event_id(self.gateway, self.seq)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": VERSION,
            "id": self.id,
            "gateway": self.gateway,
            "device": self.device,
            "kind": self.kind.value,
            "priority": self.priority.value,
            "at": format_time(self.at),
        }
        if self.device_seq is not None:
            out["device_seq"] = self.device_seq
        out["data"] = self.data
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, obj: Any) -> Event:
        """Validate one decoded JSON object; unknown fields are ignored (contract)."""
        if not isinstance(obj, dict):
            raise ProtocolError("bad_event", "event is not an object")
        if obj.get("v") != VERSION:
            raise ProtocolError("bad_version", repr(obj.get("v")))
        try:
            ident = obj["id"]
            gateway = obj["gateway"]
            device = obj["device"]
            kind = obj["kind"]
            priority = obj["priority"]
            at = obj["at"]
        except KeyError as exc:
            raise ProtocolError("missing_field", str(exc)) from None
        for name, value in (("id", ident), ("gateway", gateway), ("device", device),
                            ("kind", kind), ("priority", priority), ("at", at)):
            if not isinstance(value, str):
                raise ProtocolError("bad_field", "%s must be a string" % name)
        check_gateway_id(gateway)
        check_device_id(device)
        prefix, _, seq_text = ident.rpartition(":")
        # ASCII digits only: str.isdigit() also takes "²" and other scripts' digits.
        if prefix != gateway or not _SEQ.fullmatch(seq_text) or int(seq_text) > MAX_SEQ:
            raise ProtocolError("bad_event_id", repr(ident[:80]))
        device_seq = obj.get("device_seq")
        if device_seq is not None:
            if not isinstance(device_seq, int) or isinstance(device_seq, bool):
                raise ProtocolError("bad_field", "device_seq must be an integer")
            if not 0 <= device_seq <= MAX_SEQ:
                raise ProtocolError("out_of_range", "device_seq must be from 0 to 2^63-1")
        data = obj.get("data", {})
        if not isinstance(data, dict):
            raise ProtocolError("bad_field", "data must be an object")
        check_data(data)
        return cls(
            gateway=gateway,
            seq=int(seq_text),
            device=device,
            kind=parse_kind(kind),
            at=parse_time(at),
            priority=parse_priority(priority),
            device_seq=device_seq,
            data=data,
        )
