from __future__ import annotations

from pathlib import Path

import pytest

from protocol.errors import ProtocolError
from protocol.rflink import RflinkPacket, parse_rflink
from protocol.rtl433 import Rtl433Packet, parse_rtl433

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def test_rflink_vectors() -> None:
    lines = (VECTORS / "rflink.txt").read_text().splitlines()
    packets = [parse_rflink(line) for line in lines]
    assert packets == [
        RflinkPacket(0x06, "EV1527", {"ID": "045a42", "SWITCH": "06", "CMD": "ON"}),
        RflinkPacket(0x53, "EV1527", {"ID": "01e9f5", "SWITCH": "0b", "CMD": "ON"}),
        RflinkPacket(0x54, "EV1527", {"ID": "01e9f5", "SWITCH": "03", "CMD": "ON"}),
    ]
    assert [(p.device_id, p.code) for p in packets] == [
        ("rf-ev1527-045a42", "06"), ("rf-ev1527-01e9f5", "0b"), ("rf-ev1527-01e9f5", "03")]


def test_rflink_off_command_and_bytes() -> None:
    p = parse_rflink(b"20;2D;Kaku;ID=41;SWITCH=1;CMD=OFF;\r\n")
    assert (p.device_id, p.code) == ("rf-kaku-41", "1-off")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("20;00;Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R46;", "not_packet"),
        ("20;01;OK;", "not_packet"),
        ("20;02;PONG;", "not_packet"),
        ("10;PING;", "bad_line"),
        ("20;06;EV1527;ID=045a42;SWITCH=06;CMD=ON", "bad_line"),
        ("20;zz;EV1527;ID=045a42;", "bad_line"),
        ("20;06;EV1527;garbage;", "bad_line"),
        ("", "bad_line"),
    ],
)
def test_rflink_rejections(line: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_rflink(line)
    assert err.value.reason == reason


def test_rflink_packet_without_id() -> None:
    with pytest.raises(ProtocolError, match="no_id"):
        _ = parse_rflink("20;07;Alecto;TEMP=00c3;").device_id


def test_rtl433_vectors() -> None:
    lines = (VECTORS / "rtl_433.jsonl").read_text().splitlines()
    packets = [parse_rtl433(line) for line in lines]
    assert [(p.device_id, p.code) for p in packets] == [
        ("rf-genericremote-13cd", "c0"), ("rf-genericremote-13cd", "0c"),
        ("rf-genericremote-13cd", "03"), ("rf-genericremote-13cd", "30")]
    assert packets[0] == Rtl433Packet("Generic-Remote", "13cd", "c0", {
        "time": "@0.257012s", "model": "Generic-Remote", "id": 5069, "cmd": 192, "tristate": "0Z01101Z1000"})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "bad_json"),
        ("[1,2]", "bad_json"),
        ('{"time": "@0.1s", "id": 5}', "not_packet"),
        ('{"model": "X"}', "no_id"),
        ('{"model": "X", "id": "zz"}', "no_id"),
        ('{"model": "X", "id": 1.5}', "no_id"),
    ],
)
def test_rtl433_rejections(line: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_rtl433(line)
    assert err.value.reason == reason
