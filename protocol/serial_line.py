"""Serial line codec between our nodes (firmware) and the gateway. Pure, no I/O.

Format (docs/protocol.md has the full grammar and test vectors)::

    line = body "*" CRC "\\n"      CRC = 4 upper-case hex digits, CRC-16/CCITT-FALSE of body
    body = TYPE "," NODE "," SEQ ("," FIELD)*

    EV,<node>,<seq>,<kind>[,<key>=<value>]...   node -> gateway   an event
    AK,<node>,<seq>,<level>                     gateway -> node   stored|delivered|accepted
    NK,<node>,<seq>,<reason>                    gateway -> node   rejected, do not retry
    CM,<node>,<seq>,<op>[,<key>=<value>]...     gateway -> node   a command
    CR,<node>,<seq>,<ok|err>[,<key>=<value>]... node -> gateway   result of a command
    RF,<node>,<seq>,<proto>,<code>[,<key>=<value>]...  RF bridge -> gateway: a 433 MHz code
                                                (proto ev1527|pt2262, code lower-case hex)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from protocol.crc import crc16
from protocol.errors import ProtocolError
from protocol.kinds import Kind, parse_kind

MAX_LINE = 160
MAX_SEQ = 0xFFFFFFFF

_NODE = re.compile(r"[0-9a-f]{1,16}")
_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_KEY = re.compile(r"[a-z_][a-z0-9_]{0,15}")
_INT = re.compile(r"-?[0-9]{1,10}")
_CRC = re.compile(r"[0-9A-F]{4}")

Value = int | str


class AckLevel(StrEnum):
    STORED = "stored"  # in the gateway's durable outbox
    DELIVERED = "delivered"  # committed by the server
    ACCEPTED = "accepted"  # a person accepted the case


@dataclass(frozen=True, slots=True)
class SerialEvent:
    node: str
    seq: int
    kind: Kind
    data: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SerialAck:
    node: str
    seq: int
    level: AckLevel


@dataclass(frozen=True, slots=True)
class SerialNak:
    node: str
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class SerialCommand:
    node: str
    seq: int
    op: str
    args: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SerialCommandResult:
    node: str
    seq: int
    ok: bool
    data: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SerialRfCode:
    """A 433 MHz code heard by our RF bridge; the gateway maps it to a device and kind."""

    node: str
    seq: int
    proto: str
    code: str
    data: dict[str, Value] = field(default_factory=dict)


SerialMessage = SerialEvent | SerialAck | SerialNak | SerialCommand | SerialCommandResult | SerialRfCode
_RF_PROTO = re.compile(r"[a-z0-9]{1,16}")
_HEX = re.compile(r"[0-9a-f]{1,16}")


def _fields(pairs: dict[str, Value]) -> list[str]:
    out = []
    for key, value in pairs.items():
        if not _KEY.fullmatch(key):
            raise ProtocolError("bad_field", "key %r" % key)
        text = str(int(value)) if isinstance(value, (int, bool)) else value
        if not (_INT.fullmatch(text) or _TOKEN.fullmatch(text)):
            raise ProtocolError("bad_field", "value %r" % value)
        if isinstance(value, str) and _INT.fullmatch(text):
            # A token of digits reads back as an integer: sent, it would not be what was meant.
            raise ProtocolError("bad_field", "value %r is a string that reads as an integer" % value)
        out.append(key + "=" + text)
    return out


def frame(body: str) -> bytes:
    raw = body.encode("ascii")
    line = raw + b"*" + b"%04X" % crc16(raw) + b"\n"
    if len(line) > MAX_LINE:
        raise ProtocolError("too_long", "%d bytes" % len(line))
    return line


def encode(msg: SerialMessage) -> bytes:
    if not _NODE.fullmatch(msg.node):
        raise ProtocolError("bad_node_id", repr(msg.node))
    if not 0 <= msg.seq <= MAX_SEQ:
        raise ProtocolError("bad_seq", repr(msg.seq))
    head = [msg.node, str(msg.seq)]
    if isinstance(msg, SerialEvent):
        parts = ["EV", *head, msg.kind.value, *_fields(msg.data)]
    elif isinstance(msg, SerialAck):
        parts = ["AK", *head, msg.level.value]
    elif isinstance(msg, SerialNak):
        if not _TOKEN.fullmatch(msg.reason):
            raise ProtocolError("bad_field", "reason %r" % msg.reason)
        parts = ["NK", *head, msg.reason]
    elif isinstance(msg, SerialCommand):
        if not _TOKEN.fullmatch(msg.op):
            raise ProtocolError("bad_field", "op %r" % msg.op)
        parts = ["CM", *head, msg.op, *_fields(msg.args)]
    elif isinstance(msg, SerialRfCode):
        if not _RF_PROTO.fullmatch(msg.proto) or not _HEX.fullmatch(msg.code):
            raise ProtocolError("bad_field", "rf %r %r" % (msg.proto, msg.code))
        parts = ["RF", *head, msg.proto, msg.code, *_fields(msg.data)]
    else:
        parts = ["CR", *head, "ok" if msg.ok else "err", *_fields(msg.data)]
    return frame(",".join(parts))


def _parse_fields(items: list[str]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not _KEY.fullmatch(key) or key in out:
            raise ProtocolError("bad_field", repr(item))
        if _INT.fullmatch(text):
            out[key] = int(text)
        elif _TOKEN.fullmatch(text):
            out[key] = text
        else:
            raise ProtocolError("bad_field", repr(item))
    return out


def unframe(line: bytes) -> str:
    """Check length, terminator and CRC; return the body text."""
    if len(line) > MAX_LINE:
        raise ProtocolError("too_long", "%d bytes" % len(line))
    line = line.rstrip(b"\r\n")
    body, star, crc_text = line.rpartition(b"*")
    if not star:
        raise ProtocolError("bad_frame", "no CRC separator")
    try:
        crc_str = crc_text.decode("ascii")
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("bad_frame", "not ASCII") from None
    if not _CRC.fullmatch(crc_str):
        raise ProtocolError("bad_frame", "CRC field %r" % crc_str)
    if int(crc_str, 16) != crc16(body):
        raise ProtocolError("bad_crc", "%s != %04X" % (crc_str, crc16(body)))
    return text


def decode(line: bytes) -> SerialMessage:
    parts = unframe(line).split(",")
    if len(parts) < 4:
        raise ProtocolError("bad_frame", "too few fields")
    mtype, node, seq_text, head, rest = parts[0], parts[1], parts[2], parts[3], parts[4:]
    if not _NODE.fullmatch(node):
        raise ProtocolError("bad_node_id", repr(node))
    if not seq_text.isdigit() or len(seq_text) > 10 or int(seq_text) > MAX_SEQ:
        raise ProtocolError("bad_seq", repr(seq_text))
    seq = int(seq_text)
    if mtype == "EV":
        return SerialEvent(node, seq, parse_kind(head), _parse_fields(rest))
    if mtype == "AK" and not rest:
        try:
            return SerialAck(node, seq, AckLevel(head))
        except ValueError:
            raise ProtocolError("bad_field", "ack level %r" % head) from None
    if mtype == "NK" and not rest and _TOKEN.fullmatch(head):
        return SerialNak(node, seq, head)
    if mtype == "CM" and _TOKEN.fullmatch(head):
        return SerialCommand(node, seq, head, _parse_fields(rest))
    if mtype == "CR" and head in ("ok", "err"):
        return SerialCommandResult(node, seq, head == "ok", _parse_fields(rest))
    if mtype == "RF" and _RF_PROTO.fullmatch(head) and rest and _HEX.fullmatch(rest[0]):
        return SerialRfCode(node, seq, head, rest[0], _parse_fields(rest[1:]))
    raise ProtocolError("bad_frame", "type %r" % mtype)
