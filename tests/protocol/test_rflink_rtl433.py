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


def test_rflink_sensor_fields_become_tokens() -> None:
    lines = (VECTORS / "rflink_sensors.txt").read_text().splitlines()
    got = [(p.device_id, p.code, p.tokens, p.readings) for p in map(parse_rflink, lines)]
    assert got == [
        ("rf-fa20rf-97e3b2", "smokealert=on", ("smokealert=on",), {}),
        ("rf-smokealert-1234", "smokealert=on", ("smokealert=on",), {}),
        ("rf-smokealert-1234", "smokealert=off", ("smokealert=off", "bat=low"), {}),
        ("rf-pir-aa66", "pir=on", ("pir=on",), {}),
        ("rf-rm174rf-5bab23", "01", ("01", "smokealert=on"), {}),
        ("rf-auriol-008f", "bat=ok", ("bat=ok",), {"temp": "00d3"}),
        ("rf-sensor-0c2d", "0", (), {"co2": "03e8"}),
        ("rf-leak-7b10", "water=on", ("water=on", "bat=ok"), {}),
    ]


def test_rflink_switch_lines_keep_their_code() -> None:
    p = parse_rflink("20;06;EV1527;ID=045a42;SWITCH=06;CMD=ON;")
    assert (p.code, p.tokens, p.readings) == ("06", ("06",), {})
    off = parse_rflink("20;2D;Kaku;ID=41;SWITCH=1;CMD=OFF;")
    assert (off.code, off.tokens) == ("1-off", ("1-off",))


def test_rtl433_sensor_fields_become_tokens() -> None:
    lines = (VECTORS / "rtl_433_sensors.jsonl").read_text().splitlines()
    got = [(p.device_id, p.code, p.tokens, p.readings) for p in map(parse_rtl433, lines)]
    assert got == [
        (
            "rf-honeywellsecurit-128ac",
            "alarm=0",
            ("alarm=0", "tamper=0", "battery_ok=1", "event=160", "state=open", "contact_open=1",
             "reed_open=1"),
            {"heartbeat": 0, "freq": 345.014, "rssi": -0.126, "snr": 8.352, "noise": -8.478},
        ),
        (
            "rf-honeywellsecurit-1e850",
            "alarm=1",
            ("alarm=1", "tamper=0", "battery_ok=1", "event=52", "state=closed", "contact_open=0",
             "reed_open=1"),
            {"heartbeat": 1},
        ),
        ("rf-keruisecurity-cd46b", "0a", ("0a", "state=motion", "motion=1"), {}),
        ("rf-fineoffsetwh55-0a3b1", "alarm=1", ("alarm=1", "battery_ok=0"), {}),
    ]


def test_rtl433_state_values() -> None:
    p = parse_rtl433('{"model": "X", "id": 1, "alarm": true, "tamper": false, "battery_ok": 0.75, '
                     '"event": "Water Leak", "state": "OPEN"}')
    assert p.tokens == ("alarm=1", "tamper=0", "battery_ok=1", "event=water_leak", "state=open")
    assert parse_rtl433('{"model": "X", "id": 1, "temperature_C": 21.5}').tokens == ()
    assert parse_rtl433('{"model": "X", "id": 1, "temperature_C": 21.5}').code == "0"
