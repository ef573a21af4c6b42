"""MQTT payload codecs: event batches, ack ranges, gateway status, commands. Pure."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol.errors import ProtocolError
from protocol.event import MAX_DATA_DEPTH, MAX_EVENT_DATA, MAX_SEQ, Event

MAX_BATCH = 500  # events per MQTT message
MAX_PAYLOAD = 2 * 1024 * 1024  # bytes of one events message

__all__ = ["MAX_BATCH", "MAX_DATA_DEPTH", "MAX_EVENT_DATA", "MAX_PAYLOAD", "DecodedBatch", "decode_events"]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _loads(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        # ValueError: not JSON, not UTF-8, or a number longer than Python reads (4300 digits);
        # RecursionError: nested deeper than the reader goes.
        raise ProtocolError("bad_json", str(exc)[:200]) from None


def encode_events(events: Iterable[Event]) -> bytes:
    items = [e.to_dict() for e in events]
    if not 1 <= len(items) <= MAX_BATCH:
        raise ProtocolError("bad_batch", "%d events" % len(items))
    return _dumps(items)


class Unreadable:
    """Stands in, after parsing, for a JSON value no event may hold: NaN, an infinity, or an
    integer of more digits than Python reads. The event holding one is rejected with the
    marker's reason; its neighbours are not."""

    __slots__ = ("reason", "text")

    def __init__(self, reason: str, text: str) -> None:
        self.reason = reason
        self.text = text

    def __repr__(self) -> str:
        return "Unreadable(%s, %s)" % (self.reason, self.text[:24])


class _BatchReader:
    """``json.loads`` with markers for the values no event may hold."""

    def __init__(self) -> None:
        self.marked = 0

    def _mark(self, reason: str, text: str) -> Unreadable:
        self.marked += 1
        return Unreadable(reason, text)

    def integer(self, text: str) -> int | Unreadable:
        try:
            return int(text)
        except ValueError:  # more digits than int() reads (4300 by default)
            return self._mark("oversized_integer", text)

    def number(self, text: str) -> float | Unreadable:
        value = float(text)
        return value if math.isfinite(value) else self._mark("non_finite", text)

    def constant(self, text: str) -> Unreadable:
        return self._mark("non_finite", text)

    def load(self, payload: bytes) -> Any:
        if len(payload) > MAX_PAYLOAD:
            raise ProtocolError("too_large", "%d bytes, at most %d" % (len(payload), MAX_PAYLOAD))
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("bad_json", str(exc)[:200]) from None
        try:
            try:
                return json.loads(text, parse_float=self.number, parse_constant=self.constant)
            except ValueError:
                # Perhaps only an integer longer than int() reads: read again, marking those
                # (every integer then costs a call, so only when needed).
                return json.loads(
                    text, parse_int=self.integer, parse_float=self.number, parse_constant=self.constant
                )
        except ValueError as exc:
            raise ProtocolError("bad_json", str(exc)[:200]) from None
        except RecursionError:
            raise ProtocolError("too_deep", "nested deeper than the parser goes") from None


def _refuse_markers(item: Any) -> None:
    """Reject the event if any value in it was marked while parsing (iterative: no depth limit)."""
    stack = [item]
    while stack:
        value = stack.pop()
        if isinstance(value, Unreadable):
            raise ProtocolError(value.reason, value.text[:40])
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


@dataclass(slots=True)
class DecodedBatch:
    events: list[Event]
    rejected: list[tuple[int, ProtocolError]]  # (index in batch, why)


def decode_events(payload: bytes, gateway: str | None = None) -> DecodedBatch:
    """Decode a batch, keeping every good event even when a neighbour is bad.

    Raises only for a payload that cannot be read at all: over ``MAX_PAYLOAD`` (``too_large``),
    not UTF-8 JSON (``bad_json``), nested too deep to parse (``too_deep``), not an array of
    1..``MAX_BATCH`` events (``bad_batch``). Everything else is a per-event rejection.

    With ``gateway`` set, events claiming another gateway are rejected: a gateway may only
    publish its own events on its own topic.
    """
    reader = _BatchReader()
    obj = reader.load(payload)
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_BATCH:
        size = len(obj) if isinstance(obj, list) else type(obj).__name__
        raise ProtocolError("bad_batch", "not an array of 1..%d events: %s" % (MAX_BATCH, size))
    batch = DecodedBatch([], [])
    for index, item in enumerate(obj):
        try:
            if reader.marked:
                _refuse_markers(item)
            event = Event.from_dict(item)
            if gateway is not None and event.gateway != gateway:
                raise ProtocolError("wrong_gateway", "%s on %s's topic" % (event.gateway, gateway))
            batch.events.append(event)
        except ProtocolError as exc:
            batch.rejected.append((index, exc))
    return batch


def to_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """``[1,2,3,7,9,10]`` -> ``[(1,3),(7,7),(9,10)]``."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def from_ranges(ranges: Iterable[tuple[int, int]]) -> list[int]:
    out: list[int] = []
    for lo, hi in ranges:
        out.extend(range(lo, hi + 1))
    return out


MAX_ACK_SPAN = 1_000_000


@dataclass(frozen=True, slots=True)
class Ack:
    """What the server committed, and, when it found the gateway reusing seqs it already
    holds (a reinstalled gateway), the highest seq it holds for the gateway: the gateway's
    next seq must be above it."""

    ranges: list[tuple[int, int]]
    high_water: int | None = None


def encode_ack(seqs: Iterable[int], high_water: int | None = None) -> bytes:
    body: dict[str, Any] = {"seqs": [[lo, hi] for lo, hi in to_ranges(seqs)]}
    if high_water is not None:
        body["high_water"] = high_water
    return _dumps(body)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_ack_message(payload: bytes) -> Ack:
    obj = _loads(payload)
    if not isinstance(obj, dict) or not isinstance(obj.get("seqs"), list):
        raise ProtocolError("bad_ack", "expected {\"seqs\": [[from, to], ...]}")
    out: list[tuple[int, int]] = []
    for item in obj["seqs"]:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(_is_int(x) for x in item)
            or not 0 <= item[0] <= item[1]
            or item[1] - item[0] > MAX_ACK_SPAN
        ):
            raise ProtocolError("bad_ack", repr(item))
        out.append((item[0], item[1]))
    high_water = obj.get("high_water")
    if high_water is not None and (not _is_int(high_water) or not 0 <= high_water <= MAX_SEQ):
        raise ProtocolError("bad_ack", "high_water %r" % (high_water,))
    return Ack(out, high_water)


def decode_ack(payload: bytes) -> list[tuple[int, int]]:
    """The acked ranges alone (readers that do not move their sequence)."""
    return decode_ack_message(payload).ranges


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    state: str  # "online" | "offline"
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return _dumps({"state": self.state, **self.extra})

    @classmethod
    def decode(cls, payload: bytes) -> GatewayStatus:
        obj = _loads(payload)
        if not isinstance(obj, dict) or obj.get("state") not in ("online", "offline"):
            raise ProtocolError("bad_status", "state must be online or offline")
        state = obj.pop("state")
        return cls(state, obj)


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return _dumps({**self.args, "id": self.id, "op": self.op})

    @classmethod
    def decode(cls, payload: bytes) -> Command:
        obj = _loads(payload)
        if not isinstance(obj, dict):
            raise ProtocolError("bad_command", "not an object")
        ident, op = obj.pop("id", None), obj.pop("op", None)
        if not isinstance(ident, str) or not isinstance(op, str) or not ident or not op:
            raise ProtocolError("bad_command", "id and op must be non-empty strings")
        return cls(ident, op, obj)


@dataclass(frozen=True, slots=True)
class CommandResult:
    id: str
    ok: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return _dumps({**self.extra, "id": self.id, "ok": self.ok})

    @classmethod
    def decode(cls, payload: bytes) -> CommandResult:
        obj = _loads(payload)
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(
            obj.get("ok"), bool
        ):
            raise ProtocolError("bad_command_result", "id (string) and ok (bool) required")
        ident, ok = obj.pop("id"), obj.pop("ok")
        return cls(ident, ok, obj)
