from __future__ import annotations

import pytest

from protocol.errors import ProtocolError
from protocol.kinds import Kind
from protocol.serial_line import (
    AckLevel,
    SerialAck,
    SerialCommand,
    SerialCommandResult,
    SerialEvent,
    SerialMessage,
    SerialNak,
    SerialRfCode,
    decode,
    encode,
)

VECTORS: list[tuple[SerialMessage, bytes]] = [
    (SerialEvent("00a3", 17, Kind.PANIC, {"battery": 87}), b"EV,00a3,17,panic,battery=87*18B5\n"),
    (SerialEvent("00a4", 1, Kind.DOOR_OPEN), b"EV,00a4,1,door_open*4A9D\n"),
    (
        SerialEvent("00a3", 18, Kind.HEARTBEAT, {"battery": 86, "uptime": 3600}),
        b"EV,00a3,18,heartbeat,battery=86,uptime=3600*D1D2\n",
    ),
    (SerialAck("00a3", 17, AckLevel.STORED), b"AK,00a3,17,stored*2C9B\n"),
    (SerialAck("00a3", 17, AckLevel.DELIVERED), b"AK,00a3,17,delivered*5C89\n"),
    (SerialAck("00a3", 17, AckLevel.ACCEPTED), b"AK,00a3,17,accepted*B965\n"),
    (SerialNak("00a3", 19, "unknown_device"), b"NK,00a3,19,unknown_device*661E\n"),
    (SerialCommand("00a3", 5, "siren", {"on": 1}), b"CM,00a3,5,siren,on=1*262E\n"),
    (SerialCommandResult("00a3", 5, True), b"CR,00a3,5,ok*4D8A\n"),
    (SerialRfCode("00b1", 3, "ev1527", "01e9f5", {"bits": 24}), b"RF,00b1,3,ev1527,01e9f5,bits=24*6871\n"),
]


@pytest.mark.parametrize(("message", "line"), VECTORS)
def test_vectors_round_trip(message: SerialMessage, line: bytes) -> None:
    assert encode(message) == line
    assert decode(line) == message


def test_crlf_accepted() -> None:
    assert decode(b"EV,00a4,1,door_open*4A9D\r\n") == SerialEvent("00a4", 1, Kind.DOOR_OPEN)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"EV,00a3,17,panic,battery=88*18B5\n", "bad_crc"),
        (b"EV,00a3,17,panic,battery=87\n", "bad_frame"),
        (b"EV,00a3,17,panic,battery=87*18b5\n", "bad_frame"),
        (b"EV,00a3,17,panic,battery=87*18B\n", "bad_frame"),
        (b"EV,00a3,17,\xff*0000\n", "bad_frame"),
        (b"E" * 200 + b"\n", "too_long"),
        (encode(SerialEvent("00a3", 1, Kind.TEST))[:-8] + b"*0000\n", "bad_crc"),
    ],
)
def test_bad_frames(line: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(line)
    assert err.value.reason == reason


def _framed(body: str) -> bytes:
    from protocol.serial_line import frame

    return frame(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("EV,00a3,17,explode", "unknown_kind"),
        ("EV,00A3,17,panic", "bad_node_id"),
        ("EV,00a3,x7,panic", "bad_seq"),
        ("EV,00a3,99999999999,panic", "bad_seq"),
        ("EV,00a3,17,panic,battery", "bad_field"),
        ("EV,00a3,17,panic,battery=1,battery=2", "bad_field"),
        ("EV,00a3,17,panic,Bat=1", "bad_field"),
        ("AK,00a3,17,received", "bad_field"),
        ("ZZ,00a3,17,panic", "bad_frame"),
        ("EV,00a3", "bad_frame"),
    ],
)
def test_bad_bodies(body: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(_framed(body))
    assert err.value.reason == reason


def test_encode_rejects_unsafe_values() -> None:
    with pytest.raises(ProtocolError):
        encode(SerialEvent("00a3", 1, Kind.TEST, {"note": "a,b"}))
    with pytest.raises(ProtocolError):
        encode(SerialEvent("00a3", -1, Kind.TEST))
