"""MQTT 3.1.1 and 5.0 packet bytes: decode what clients send, encode what a broker answers.

Pure functions over bytes, no I/O. Only the packets a broker receives are decoded and only the
packets a broker sends are encoded; anything that breaks the specification raises
`MalformedPacket` (bytes that cannot be read) or `MqttProtocolError` (readable but forbidden), both
carrying the MQTT v5 reason code the broker should close with.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import cast

from server.broker.mosquitto import BrokerError

PROTOCOL_V311 = 4
PROTOCOL_V5 = 5
MAX_VARINT = 268_435_455


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


class Reason(IntEnum):
    """MQTT v5 reason codes used by this broker (3.1.1 connack codes are mapped separately)."""

    SUCCESS = 0x00
    GRANTED_QOS_1 = 0x01
    DISCONNECT_WITH_WILL = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    PACKET_TOO_LARGE = 0x95
    QUOTA_EXCEEDED = 0x97
    TOPIC_ALIAS_INVALID = 0x94


class MqttError(BrokerError):
    """Bytes from a client that the broker must refuse; `reason` is the v5 code to close with."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason


class MalformedPacket(MqttError):
    def __init__(self, message: str, reason: Reason = Reason.MALFORMED_PACKET) -> None:
        super().__init__(message, reason)


class MqttProtocolError(MqttError):
    def __init__(self, message: str, reason: Reason = Reason.PROTOCOL_ERROR) -> None:
        super().__init__(message, reason)


class PacketTooLarge(MqttError):
    def __init__(self, message: str, reason: Reason = Reason.PACKET_TOO_LARGE) -> None:
        super().__init__(message, reason)


class Prop(IntEnum):
    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
_PROP_TYPES: dict[int, int] = {
    Prop.PAYLOAD_FORMAT_INDICATOR: _BYTE,
    Prop.MESSAGE_EXPIRY_INTERVAL: _U32,
    Prop.CONTENT_TYPE: _STR,
    Prop.RESPONSE_TOPIC: _STR,
    Prop.CORRELATION_DATA: _BIN,
    Prop.SUBSCRIPTION_IDENTIFIER: _VARINT,
    Prop.SESSION_EXPIRY_INTERVAL: _U32,
    Prop.ASSIGNED_CLIENT_IDENTIFIER: _STR,
    Prop.SERVER_KEEP_ALIVE: _U16,
    Prop.AUTHENTICATION_METHOD: _STR,
    Prop.AUTHENTICATION_DATA: _BIN,
    Prop.REQUEST_PROBLEM_INFORMATION: _BYTE,
    Prop.WILL_DELAY_INTERVAL: _U32,
    Prop.REQUEST_RESPONSE_INFORMATION: _BYTE,
    Prop.RESPONSE_INFORMATION: _STR,
    Prop.SERVER_REFERENCE: _STR,
    Prop.REASON_STRING: _STR,
    Prop.RECEIVE_MAXIMUM: _U16,
    Prop.TOPIC_ALIAS_MAXIMUM: _U16,
    Prop.TOPIC_ALIAS: _U16,
    Prop.MAXIMUM_QOS: _BYTE,
    Prop.RETAIN_AVAILABLE: _BYTE,
    Prop.USER_PROPERTY: _PAIR,
    Prop.MAXIMUM_PACKET_SIZE: _U32,
    Prop.WILDCARD_SUBSCRIPTION_AVAILABLE: _BYTE,
    Prop.SUBSCRIPTION_IDENTIFIER_AVAILABLE: _BYTE,
    Prop.SHARED_SUBSCRIPTION_AVAILABLE: _BYTE,
}
# These may legally appear more than once in one property list.
_REPEATABLE = frozenset({Prop.USER_PROPERTY, Prop.SUBSCRIPTION_IDENTIFIER})

PropValue = int | str | bytes | tuple[str, str]
Properties = tuple[tuple[int, PropValue], ...]


def prop(props: Properties, pid: Prop) -> PropValue | None:
    for key, value in props:
        if key == pid:
            return value
    return None


def prop_int(props: Properties, pid: Prop, default: int) -> int:
    value = prop(props, pid)
    return value if isinstance(value, int) else default


# --- decoding -------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.remaining():
            raise MalformedPacket("packet ends %d bytes early" % (n - self.remaining()))
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def varint(self) -> int:
        value = 0
        for shift in (0, 7, 14, 21):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise MalformedPacket("variable byte integer longer than 4 bytes")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("string is not valid UTF-8") from None
        if "\x00" in text:
            raise MalformedPacket("string contains U+0000")
        return text

    def properties(self, level: int) -> Properties:
        if level < PROTOCOL_V5:
            return ()
        length = self.varint()
        sub = _Reader(self.take(length))
        out: list[tuple[int, PropValue]] = []
        seen: set[int] = set()
        while sub.remaining():
            pid = sub.varint()
            kind = _PROP_TYPES.get(pid)
            if kind is None:
                raise MalformedPacket("unknown property 0x%02x" % pid)
            if pid in seen and pid not in _REPEATABLE:
                raise MqttProtocolError("property 0x%02x given twice" % pid)
            seen.add(pid)
            value: PropValue
            if kind == _BYTE:
                value = sub.u8()
            elif kind == _U16:
                value = sub.u16()
            elif kind == _U32:
                value = sub.u32()
            elif kind == _VARINT:
                value = sub.varint()
            elif kind == _STR:
                value = sub.string()
            elif kind == _BIN:
                value = sub.binary()
            else:
                value = (sub.string(), sub.string())
            out.append((pid, value))
        return tuple(out)

    def end(self) -> None:
        if self.remaining():
            raise MalformedPacket("%d unexpected bytes at the end of the packet" % self.remaining())


def decode_varint_prefix(data: bytes) -> tuple[int, int] | None:
    """(value, bytes used) of a remaining-length field at the start of `data`; None if incomplete."""
    value = 0
    for i, shift in enumerate((0, 7, 14, 21)):
        if i >= len(data):
            return None
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
    raise MalformedPacket("remaining length longer than 4 bytes")


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties


@dataclass(frozen=True)
class Connect:
    level: int
    clean_start: bool
    keepalive: int
    client_id: str
    properties: Properties = ()
    will: Will | None = None
    username: str | None = None
    password: bytes | None = None


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0
    properties: Properties = ()


@dataclass(frozen=True)
class Ack:
    """PUBACK, PUBREC, PUBREL or PUBCOMP."""

    type: PacketType
    packet_id: int
    reason: int = 0
    properties: Properties = ()


@dataclass(frozen=True)
class SubscriptionRequest:
    filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(frozen=True)
class Subscribe:
    packet_id: int
    requests: tuple[SubscriptionRequest, ...]
    properties: Properties = ()


@dataclass(frozen=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]
    properties: Properties = ()


@dataclass(frozen=True)
class PingReq:
    pass


@dataclass(frozen=True)
class Disconnect:
    reason: int = 0
    properties: Properties = field(default=())


Packet = Connect | Publish | Ack | Subscribe | Unsubscribe | PingReq | Disconnect

_FIXED_FLAGS = {
    PacketType.PUBACK: 0,
    PacketType.PUBREC: 0,
    PacketType.PUBREL: 2,
    PacketType.PUBCOMP: 0,
    PacketType.SUBSCRIBE: 2,
    PacketType.UNSUBSCRIBE: 2,
    PacketType.PINGREQ: 0,
    PacketType.DISCONNECT: 0,
    PacketType.CONNECT: 0,
    PacketType.AUTH: 0,
}


def decode_packet(first: int, body: bytes, level: int) -> Packet:
    """Decode one packet a client sent; `level` is the connection's protocol level (4 or 5)."""
    try:
        ptype = PacketType(first >> 4)
    except ValueError:
        raise MalformedPacket("packet type 0 is reserved") from None
    flags = first & 0x0F
    if ptype not in _FIXED_FLAGS and ptype != PacketType.PUBLISH:
        raise MqttProtocolError("%s is never sent by a client" % ptype.name)
    if ptype != PacketType.PUBLISH and _FIXED_FLAGS.get(ptype, -1) != flags:
        raise MalformedPacket("bad fixed header flags 0x%x for %s" % (flags, ptype.name))
    r = _Reader(body)
    packet: Packet
    if ptype == PacketType.CONNECT:
        packet = _decode_connect(r)
    elif ptype == PacketType.PUBLISH:
        packet = _decode_publish(r, flags, level)
    elif ptype in (PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP):
        pid = r.u16()
        if pid == 0:
            raise MalformedPacket("packet identifier 0")
        reason, props = 0, cast(Properties, ())
        if level >= PROTOCOL_V5 and r.remaining():
            reason = r.u8()
            if r.remaining():
                props = r.properties(level)
        packet = Ack(ptype, pid, reason, props)
    elif ptype == PacketType.SUBSCRIBE:
        packet = _decode_subscribe(r, level)
    elif ptype == PacketType.UNSUBSCRIBE:
        pid = r.u16()
        props = r.properties(level)
        filters: list[str] = []
        while r.remaining():
            filters.append(r.string())
        if pid == 0 or not filters:
            raise MqttProtocolError("UNSUBSCRIBE without packet identifier or filters")
        packet = Unsubscribe(pid, tuple(filters), props)
    elif ptype == PacketType.PINGREQ:
        packet = PingReq()
    elif ptype == PacketType.DISCONNECT:
        reason, props = 0, cast(Properties, ())
        if level >= PROTOCOL_V5 and r.remaining():
            reason = r.u8()
            if r.remaining():
                props = r.properties(level)
        packet = Disconnect(reason, props)
    else:
        raise MqttProtocolError("enhanced authentication (AUTH) is not supported")
    r.end()
    return packet


def _decode_connect(r: _Reader) -> Connect:
    name = r.string()
    level = r.u8()
    if (name, level) not in (("MQTT", PROTOCOL_V311), ("MQTT", PROTOCOL_V5)):
        raise MqttProtocolError(
            "unsupported protocol %r level %d" % (name, level), Reason.UNSUPPORTED_PROTOCOL_VERSION
        )
    flags = r.u8()
    if flags & 0x01:
        raise MalformedPacket("CONNECT reserved flag set")
    keepalive = r.u16()
    props = r.properties(level)
    client_id = r.string()
    will = None
    will_qos = (flags >> 3) & 0x03
    will_retain = bool(flags & 0x20)
    if flags & 0x04:
        if will_qos == 3:
            raise MalformedPacket("will QoS 3")
        will_props = r.properties(level)
        will = Will(r.string(), r.binary(), will_qos, will_retain, will_props)
        if not valid_topic_name(will.topic):
            raise MqttProtocolError("invalid will topic %r" % will.topic, Reason.TOPIC_NAME_INVALID)
    elif will_qos or will_retain:
        raise MalformedPacket("will QoS or retain set without a will")
    username = r.string() if flags & 0x80 else None
    password = r.binary() if flags & 0x40 else None
    if level == PROTOCOL_V311 and password is not None and username is None:
        raise MalformedPacket("password without user name")
    return Connect(level, bool(flags & 0x02), keepalive, client_id, props, will, username, password)


def _decode_publish(r: _Reader, flags: int, level: int) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    dup = bool(flags & 0x08)
    if dup and qos == 0:
        raise MalformedPacket("DUP set on a QoS 0 PUBLISH")
    topic = r.string()
    pid = 0
    if qos:
        pid = r.u16()
        if pid == 0:
            raise MalformedPacket("packet identifier 0")
    props = r.properties(level)
    payload = r.take(r.remaining())
    return Publish(topic, payload, qos, bool(flags & 0x01), dup, pid, props)


def _decode_subscribe(r: _Reader, level: int) -> Subscribe:
    pid = r.u16()
    if pid == 0:
        raise MalformedPacket("packet identifier 0")
    props = r.properties(level)
    requests: list[SubscriptionRequest] = []
    while r.remaining():
        topic_filter = r.string()
        options = r.u8()
        qos = options & 0x03
        retain_handling = (options >> 4) & 0x03
        if qos == 3 or retain_handling == 3:
            raise MalformedPacket("bad subscription options 0x%02x" % options)
        reserved = 0xC0 if level >= PROTOCOL_V5 else 0xFC
        if options & reserved:
            raise MalformedPacket("reserved subscription option bits set 0x%02x" % options)
        requests.append(
            SubscriptionRequest(
                topic_filter, qos, bool(options & 0x04), bool(options & 0x08), retain_handling
            )
        )
    if not requests:
        raise MqttProtocolError("SUBSCRIBE without topic filters")
    return Subscribe(pid, tuple(requests), props)


def valid_topic_name(topic: str) -> bool:
    return bool(topic) and "+" not in topic and "#" not in topic and len(topic.encode()) <= 65535


# --- encoding -------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    if not 0 <= value <= MAX_VARINT:
        raise ValueError("variable byte integer out of range: %d" % value)
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def _bin(raw: bytes) -> bytes:
    return struct.pack(">H", len(raw)) + raw


def encode_properties(props: Properties) -> bytes:
    body = bytearray()
    for pid, value in props:
        kind = _PROP_TYPES[pid]
        body += encode_varint(pid)
        if kind == _BYTE and isinstance(value, int):
            body.append(value)
        elif kind == _U16 and isinstance(value, int):
            body += struct.pack(">H", value)
        elif kind == _U32 and isinstance(value, int):
            body += struct.pack(">I", value)
        elif kind == _VARINT and isinstance(value, int):
            body += encode_varint(value)
        elif kind == _STR and isinstance(value, str):
            body += _str(value)
        elif kind == _BIN and isinstance(value, bytes):
            body += _bin(value)
        elif kind == _PAIR and isinstance(value, tuple):
            body += _str(value[0]) + _str(value[1])
        else:
            raise TypeError("property 0x%02x cannot hold %r" % (pid, value))
    return encode_varint(len(body)) + bytes(body)


def _frame(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def encode_connack(level: int, session_present: bool, reason: int, props: Properties = ()) -> bytes:
    body = bytes([1 if session_present else 0, reason])
    if level >= PROTOCOL_V5:
        body += encode_properties(props)
    return _frame(PacketType.CONNACK << 4, body)


def encode_publish(
    level: int,
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    dup: bool = False,
    packet_id: int = 0,
    props: Properties = (),
) -> bytes:
    first = (PacketType.PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = _str(topic)
    if qos:
        body += struct.pack(">H", packet_id)
    if level >= PROTOCOL_V5:
        body += encode_properties(props)
    return _frame(first, body + payload)


def encode_ack(level: int, ptype: PacketType, packet_id: int, reason: int = 0) -> bytes:
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK-less short acks."""
    first = (ptype << 4) | (0x02 if ptype == PacketType.PUBREL else 0)
    body = struct.pack(">H", packet_id)
    if level >= PROTOCOL_V5 and reason:
        body += bytes([reason])
    return _frame(first, body)


def encode_suback(level: int, packet_id: int, codes: list[int]) -> bytes:
    body = struct.pack(">H", packet_id)
    if level >= PROTOCOL_V5:
        body += encode_properties(())
    return _frame(PacketType.SUBACK << 4, body + bytes(codes))


def encode_unsuback(level: int, packet_id: int, codes: list[int]) -> bytes:
    body = struct.pack(">H", packet_id)
    if level >= PROTOCOL_V5:
        body += encode_properties(()) + bytes(codes)
    return _frame(PacketType.UNSUBACK << 4, body)


def encode_pingresp() -> bytes:
    return bytes([PacketType.PINGRESP << 4, 0])


def encode_disconnect(reason: int, props: Properties = ()) -> bytes:
    """Server-sent DISCONNECT; MQTT 3.1.1 has none, so only call this for v5 connections."""
    return _frame(PacketType.DISCONNECT << 4, bytes([reason]) + encode_properties(props))
