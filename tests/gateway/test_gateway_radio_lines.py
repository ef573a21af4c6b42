"""Radio input, one code path: the live gateway and ``shouwang gateway decode`` both read radio
lines through ``RadioLines``. Lines in, whole outcomes out; then the same lines through both."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

from gateway.catalog import load_device_catalog
from gateway.config import DeviceSettings
from gateway.daemon import Gateway
from gateway.decoding import BleTracker, Decoded, Rejected, RfMapper
from gateway.radio_lines import RadioLines
from gateway.tools import run_decode
from protocol import serial_line as sl
from protocol.kinds import Kind
from shouwang.processes import free_port
from tests.gateway.gw_support import FakeClock, settings, wait_for

DEVICES = [
    DeviceSettings("rf-ev1527-045a42", "pendant", kind="panic"),
    DeviceSettings("rf-ev1527-01e9f5", "door", model="ev1527-door"),
    DeviceSettings("rf-genericremote-13cd", "keyfob", model="sc2260-keyfob"),
]
BANNER = b"20;00;Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R46;\r\n"
PENDANT = b"20;06;EV1527;ID=045a42;SWITCH=06;CMD=ON;\r\n"
PENDANT_REPEAT = b"20;07;EV1527;ID=045a42;SWITCH=06;CMD=ON;\r\n"
BROKEN = b"20;zz;broken\r\n"
NEIGHBOUR = b"20;08;EV1527;ID=0abcde;SWITCH=01;CMD=ON;\r\n"
KEYFOB = b'{"time": "@0.25s", "model": "Generic-Remote", "id": 5069, "cmd": 3, "tristate": "0Z01101Z1000"}'


def radio(clock: FakeClock) -> RadioLines:
    known = {d.id: d for d in DEVICES}
    catalog = load_device_catalog(DEVICES)
    return RadioLines(BleTracker(known.get, catalog, clock=clock), RfMapper(known.get, catalog, clock=clock))


def test_rflink_lines_become_outcomes() -> None:
    r = radio(FakeClock())
    assert [r.rflink_line(line) for line in (BANNER, PENDANT, PENDANT_REPEAT, BROKEN, NEIGHBOUR)] == [
        [Rejected(None, "not_packet", "Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R46")],
        [Decoded("rf-ev1527-045a42", Kind.PANIC, {"code": "06"})],
        [Rejected("rf-ev1527-045a42", "duplicate", "repeat of 06")],
        [Rejected(None, "bad_line", "no trailing ';': '20;zz;broken'")],
        [Rejected("rf-ev1527-0abcde", "unknown_device", "01")],
    ]


def test_rtl433_lines_become_outcomes() -> None:
    r = radio(FakeClock())
    assert r.rtl433_line(KEYFOB) == [Decoded("rf-genericremote-13cd", Kind.PANIC,
                                             {"code": "03", "model": "Generic-Remote"})]
    assert r.rtl433_line(b'{"time": "@0.1s", "id": 5}') == [Rejected(None, "not_packet", "no model")]
    assert r.rtl433_line(b"not json") == [
        Rejected(None, "bad_json", "Expecting value: line 1 column 1 (char 0)")]


def test_bridge_codes_become_outcomes_naming_the_bridge() -> None:
    r = radio(FakeClock())
    frame = (0x01E9F5 << 4) | 0xB  # transmitter 01e9f5, data 0xb = open
    assert r.bridge_code(sl.SerialRfCode("00b1", 3, "ev1527", "%06x" % frame, {"bits": 24})) == [
        Decoded("rf-ev1527-01e9f5", Kind.DOOR_OPEN, {"code": "0b", "bridge": "sn-00b1"})]
    assert r.bridge_code(sl.SerialRfCode("00b1", 4, "ev1527", "zz", {})) == [
        Rejected(None, "bad_code", "ev1527 code 'zz' is not hex")]


def test_the_decode_tool_shows_what_the_gateway_stores(tmp_path: Path) -> None:
    door = b"20;09;EV1527;ID=01e9f5;SWITCH=0b;CMD=ON;\r\n"
    lines = [BANNER, PENDANT, PENDANT_REPEAT, BROKEN, NEIGHBOUR, door]
    s = replace(settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port()), devices=tuple(DEVICES))
    out = io.StringIO()
    run_decode("rflink", None, None, s, [line.decode() for line in lines], out)
    shown = [json.loads(line) for line in out.getvalue().splitlines()]
    # The tool also shows devices that are not on the allowlist (kind null), for pairing.
    decoded = [(o["device"], o["kind"], o["data"]) for o in shown if o.get("kind")]
    assert [o["device"] for o in shown if "kind" in o and o["kind"] is None] == ["rf-ev1527-0abcde"]
    rejected = sorted(o["rejected"] for o in shown if "rejected" in o)

    gw = Gateway(s, monotonic=FakeClock())
    gw.start()
    try:
        assert gw.intake is not None and gw.writer is not None and gw.outbox is not None
        for line in lines:
            gw.intake.rflink_line(line)
        done: list[bool] = []
        gw.writer.call(lambda box: done.append(True))
        wait_for(lambda: bool(done), what="writer flush")
        stored = [(e.device, e.kind.value, e.data) for e in gw.outbox.pending(limit=100)]
        counted = gw.counters.snapshot()
    finally:
        gw.stop()
    assert stored == decoded == [("rf-ev1527-045a42", "panic", {"code": "06"}),
                                 ("rf-ev1527-01e9f5", "door_open", {"code": "0b"})]
    assert rejected == ["bad_line", "duplicate", "not_packet"]
    # The gateway counts what the tool shows; RFLink's own chatter (the banner) is not counted.
    assert {k: v for k, v in counted.items() if k.startswith(("rejected.", "dropped."))} == {
        "rejected.duplicate": 1, "rejected.unknown_device": 1, "dropped.rflink_bad_line": 1}
    assert [u.device for u in gw.unknown.seen()] == ["rf-ev1527-0abcde"]


def test_an_alarm_with_data_the_server_would_refuse_is_stored_with_the_reason(tmp_path: Path) -> None:
    # NaN, text that is not Unicode, or oversized data would make the event undeliverable (the
    # server refuses it, the gateway resends it for ever): the alarm is kept, its data replaced.
    s = replace(settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port()), devices=tuple(DEVICES))
    gw = Gateway(s, monotonic=FakeClock())
    gw.start()
    try:
        assert gw.intake is not None and gw.writer is not None and gw.outbox is not None
        gw.intake.submit(Decoded("rf-ev1527-045a42", Kind.PANIC, {"code": "06", "rssi": float("nan")}), "rf")
        gw.intake.submit(Decoded("rf-ev1527-045a42", Kind.PANIC, {"model": "\udcff"}), "rf")
        gw.intake.submit(Decoded("rf-ev1527-045a42", Kind.PANIC, {"raw": "x" * 5000}), "rf")
        gw.intake.submit(Decoded("rf-ev1527-045a42", Kind.PANIC, {"code": "06"}), "rf")
        done: list[bool] = []
        gw.writer.call(lambda box: done.append(True))
        wait_for(lambda: bool(done), what="writer flush")
        stored = [(e.kind.value, e.data) for e in gw.outbox.pending(limit=100)]
        counted = gw.counters.snapshot()
    finally:
        gw.stop()
    assert stored == [("panic", {"data_dropped": "non_finite"}), ("panic", {"data_dropped": "unencodable"}),
                      ("panic", {"data_dropped": "data_too_large"}), ("panic", {"code": "06"})]
    assert {k: v for k, v in counted.items() if k.startswith("data_replaced.")} == {
        "data_replaced.non_finite": 1, "data_replaced.unencodable": 1, "data_replaced.data_too_large": 1}
