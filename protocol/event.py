"""The event model shared by gateway and server (contract: docs/protocol.md, section 1)."""

from __future__ import annotations

import json
import math
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
MAX_DATA_DEPTH = 16
_SEQ = re.compile(r"[0-9]{1,19}")


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


def check_data(value: Any, depth: int = 0) -> None:
    """Event data is JSON that every reader can store and send on: finite numbers, text that
    is Unicode (no lone surrogates, which have no UTF-8), and a bounded depth."""
    if depth > MAX_DATA_DEPTH:
        raise ProtocolError("bad_field", "data nests deeper than %d levels" % MAX_DATA_DEPTH)
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError("bad_field", "data holds %r, which is not JSON" % value)
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            check_data(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_data(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError("bad_field", "data holds text that is not Unicode") from None


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
        if device_seq is not None and (
            not isinstance(device_seq, int) or isinstance(device_seq, bool) or not 0 <= device_seq <= MAX_SEQ
        ):
            raise ProtocolError("bad_field", "device_seq must be an integer from 0 to 2^63-1")
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
