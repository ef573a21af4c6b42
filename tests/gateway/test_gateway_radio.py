"""BLE, RF and supervision through a running gateway: real bytes in, outbox rows out."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.config import BleSettings, DeviceSettings, Rtl433Settings, SerialSettings
from gateway.counters import Counters
from gateway.daemon import Gateway
from gateway.radio import BleScanner
from protocol import serial_line as sl
from protocol.bthome import encrypt_payload
from protocol.kinds import Kind
from shouwang.processes import free_port
from tests.gateway.gw_support import FakeClock, PtyNode, settings, wait_for

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BUTTON_MAC = "A4:C1:38:8D:18:B2"
MOTION_MAC = "54:48:E6:8F:80:A5"
MOTION_KEY = "231d39c1d7cc1ab1aee224cd096db932"


def make(tmp_path: Path, devices: list[DeviceSettings], clock: FakeClock | None = None,
         ble_factory: Any = None, **kw: Any) -> Gateway:
    base = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port())  # no broker: events stay in the outbox
    gw = Gateway(replace(base, devices=tuple(devices), **kw), monotonic=clock or FakeClock(),
                 ble_factory=ble_factory)
    gw.start()
    return gw


def rows(gw: Gateway) -> list[tuple[str, str, dict[str, Any]]]:
    assert gw.writer is not None
    done: list[bool] = []
    gw.writer.call(lambda box: done.append(True))  # everything submitted before is committed
    wait_for(lambda: bool(done), what="writer flush")
    assert gw.outbox is not None
    out = []
    for e in gw.outbox.pending(limit=1000):
        out.append((e.device, e.kind.value, e.data))
    return out


@pytest.fixture
def gw_ble(tmp_path: Path) -> Iterator[Gateway]:
    gw = make(tmp_path, [
        DeviceSettings("ble-a4c1388d18b2", "button", model="shelly-blu-button1"),
        DeviceSettings("ble-5448e68f80a5", "motion", model="bthome-motion", key=MOTION_KEY),
    ])
    yield gw
    gw.stop()


def test_ble_button_press_once_per_packet_id(gw_ble: Gateway) -> None:
    press = bytes.fromhex("40005201643a01")
    gw_ble.ble_advert(BUTTON_MAC, press, -60)
    gw_ble.ble_advert(BUTTON_MAC, press, -61)  # BlueZ hands us each repeat of the advert
    gw_ble.ble_advert(BUTTON_MAC, bytes.fromhex("40005301643a04"), -60)
    assert rows(gw_ble) == [
        ("ble-a4c1388d18b2", "panic", {"battery": 100, "rssi": -60, "packet_id": 82, "button": "button",
                                       "event": "press"}),
        ("ble-a4c1388d18b2", "panic", {"battery": 100, "rssi": -60, "packet_id": 83, "button": "button",
                                       "event": "long_press"}),
    ]
    assert gw_ble.counters.get("rejected.duplicate") == 1


def test_shelly_button_every_press_pattern_is_an_alarm(gw_ble: Gateway) -> None:
    """A villager in distress presses once, or several times, or holds: each is a panic."""
    events = {0x01: "press", 0x02: "double_press", 0x03: "triple_press", 0x04: "long_press",
              0x05: "long_double_press", 0x06: "long_triple_press", 0x80: "hold_press"}
    for packet_id, code in enumerate(events, 10):
        gw_ble.ble_advert(BUTTON_MAC, bytes([0x40, 0x00, packet_id, 0x3A, code]))
    assert rows(gw_ble) == [
        ("ble-a4c1388d18b2", "panic", {"packet_id": packet_id, "button": "button", "event": event})
        for packet_id, event in enumerate(events.values(), 10)
    ]
    assert gw_ble.counters.group("rejected") == {}


def test_ble_encrypted_counter_replay_and_bad_key(gw_ble: Gateway) -> None:
    key = bytes.fromhex(MOTION_KEY)
    vector = bytes.fromhex("4187b90011223372b0231f")  # motion=true, counter 0x33221100
    gw_ble.ble_advert(MOTION_MAC, vector)
    gw_ble.ble_advert(MOTION_MAC, vector)  # repeat: duplicate
    older = encrypt_payload(bytes.fromhex("2100"), MOTION_MAC, key, 0x33221000)
    gw_ble.ble_advert(MOTION_MAC, older)
    gw_ble.ble_advert(MOTION_MAC, encrypt_payload(bytes.fromhex("2100"), MOTION_MAC, bytes(16), 0x33221200))
    gw_ble.ble_advert(MOTION_MAC, encrypt_payload(bytes.fromhex("2100"), MOTION_MAC, key, 0x33221200))
    gw_ble.ble_advert(MOTION_MAC, encrypt_payload(bytes.fromhex("2101"), MOTION_MAC, key, 0x33221300))
    assert rows(gw_ble) == [
        ("ble-5448e68f80a5", "intrusion", {"motion": True, "first_seen": True}),
        ("ble-5448e68f80a5", "intrusion", {"motion": True}),
    ]
    assert gw_ble.counters.group("rejected") == {"bad_mic": 1, "duplicate": 1, "replayed_counter": 1}


def test_ble_counter_survives_a_restart(tmp_path: Path) -> None:
    devices = [DeviceSettings("ble-5448e68f80a5", "motion", model="bthome-motion", key=MOTION_KEY)]
    vector = bytes.fromhex("4187b90011223372b0231f")
    gw = make(tmp_path, devices)
    gw.ble_advert(MOTION_MAC, vector)
    assert len(rows(gw)) == 1
    gw.stop()
    gw = make(tmp_path, devices)
    try:
        gw.ble_advert(MOTION_MAC, vector)  # captured and replayed after the gateway restarted
        assert len(rows(gw)) == 1
        assert gw.counters.group("rejected") == {"replayed_counter": 1}
        key = bytes.fromhex(MOTION_KEY)
        gw.ble_advert(MOTION_MAC, encrypt_payload(bytes.fromhex("2101"), MOTION_MAC, key, 0x33221101))
        gw.ble_advert(MOTION_MAC, encrypt_payload(bytes.fromhex("2100"), MOTION_MAC, key, 0x33221102))
        gw.ble_advert(MOTION_MAC, encrypt_payload(bytes.fromhex("2101"), MOTION_MAC, key, 0x33221103))
        assert rows(gw) == [
            ("ble-5448e68f80a5", "intrusion", {"motion": True, "first_seen": True}),
            ("ble-5448e68f80a5", "intrusion", {"motion": True}),  # after motion=false, not the cached true
        ]
    finally:
        gw.stop()


def test_ble_unknown_device_is_seen_never_an_alarm(gw_ble: Gateway) -> None:
    gw_ble.ble_advert("11:22:33:44:55:66", bytes.fromhex("40005201643a01"))
    assert rows(gw_ble) == []
    [seen] = gw_ble.unknown.seen()
    assert (seen.device, seen.transport) == ("ble-112233445566", "ble")
    assert gw_ble.status()["devices"]["unknown_seen"] == 1


def test_ble_door_state_changes_are_events_cached_values_are_not(tmp_path: Path) -> None:
    gw = make(tmp_path, [DeviceSettings("ble-a4c1388d18b2", "door", model="shelly-blu-door-window")])
    try:
        for hexdata in ("4000002d00", "4000012d00", "4000022d01", "4000032d01", "4000042d00"):
            gw.ble_advert(BUTTON_MAC, bytes.fromhex(hexdata))
        assert rows(gw) == [
            ("ble-a4c1388d18b2", "door_close", {"packet_id": 0, "window": False, "first_seen": True}),
            ("ble-a4c1388d18b2", "door_open", {"packet_id": 2, "window": True}),
            ("ble-a4c1388d18b2", "door_close", {"packet_id": 4, "window": False}),
        ]
    finally:
        gw.stop()


def test_ble_door_state_survives_a_restart_so_the_first_opening_is_an_event(tmp_path: Path) -> None:
    """The state before a restart is the baseline after it: the first opening after the
    gateway came back is an event, and the cached state re-advertised is still none."""
    devices = [DeviceSettings("ble-a4c1388d18b2", "door", model="shelly-blu-door-window")]
    gw = make(tmp_path, devices)
    try:
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("4000102d00"))  # closed, first ever seen
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("4000112d00"))  # closed again: cached
        assert rows(gw) == [
            ("ble-a4c1388d18b2", "door_close", {"packet_id": 16, "window": False, "first_seen": True})]
    finally:
        gw.stop()
    gw = make(tmp_path, devices)  # new gateway objects on the same outbox.db
    try:
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("4000132d01"))  # the first advert: an opening
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("4000142d01"))  # open, re-advertised
        assert rows(gw) == [
            ("ble-a4c1388d18b2", "door_close", {"packet_id": 16, "window": False, "first_seen": True}),
            ("ble-a4c1388d18b2", "door_open", {"packet_id": 19, "window": True}),
        ]
    finally:
        gw.stop()
    gw = make(tmp_path, devices)
    try:
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("4000202d00"))  # closed while the gateway was down
        assert [(k, d) for _, k, d in rows(gw)][2:] == [("door_close", {"packet_id": 32, "window": False})]
    finally:
        gw.stop()


def test_ble_vectors_all_decode_without_errors(gw_ble: Gateway) -> None:
    for v in json.loads((VECTORS / "bthome.json").read_text()):
        gw_ble.ble_advert(v["address"], bytes.fromhex(v["service_data_hex"]))
    assert gw_ble.counters.get("errors.handler") == 0
    kinds = [k for _, k, _ in rows(gw_ble)]
    assert {"panic", "intrusion"} <= set(kinds)


class FakeScanner:
    def __init__(self, log: list[str], fail: bool) -> None:
        self.log = log
        self.fail = fail

    async def start(self) -> None:
        self.log.append("start")
        if self.fail:
            raise OSError("org.bluez.Error.NotReady")

    async def stop(self) -> None:
        self.log.append("stop")


def test_ble_watchdog_restarts_a_silent_scan_and_retries_failures() -> None:
    log: list[str] = []
    attempts = iter([True, False, False, False, False])
    clock = FakeClock()
    got: list[tuple[str, bytes, int | None]] = []
    counters = Counters()
    scanner = BleScanner(BleSettings(True, "", 60.0), lambda m, d, r: got.append((m, d, r)), counters,
                         factory=lambda cb: FakeScanner(log, next(attempts, False)), clock=clock, poll_s=0.01)
    scanner.start()
    try:
        assert scanner.scanning.wait(10)
        assert counters.get("ble.errors") == 1
        scanner._advert(BUTTON_MAC, b"\x40", -50)  # what the detection callback calls
        clock.advance(61)
        wait_for(lambda: counters.get("ble.watchdog_restarts") == 1, what="watchdog")
        wait_for(lambda: counters.get("ble.scans") == 2, what="second scan")
    finally:
        scanner.stop()
    assert got == [(BUTTON_MAC, b"\x40", -50)]
    assert log[:4] == ["start", "start", "stop", "start"]


def test_rflink_over_a_pty_counts_repeats_once(tmp_path: Path) -> None:
    node = PtyNode()
    clock = FakeClock()
    gw = make(tmp_path, [DeviceSettings("rf-ev1527-045a42", "pendant", kind="panic"),
                         DeviceSettings("rf-ev1527-01e9f5", "door", model="ev1527-door")],
              clock=clock, serial=(SerialSettings(node.port, 57600, "rflink"),))
    try:
        assert gw.ports[0].wait_open(10)
        lines = (VECTORS / "rflink.txt").read_bytes().replace(b"\n", b"\r\n")
        node.send(b"20;00;Nodo RadioFrequencyLink - RFLink Gateway V1.1 - R46;\r\n" + lines + lines)
        wait_for(lambda: gw.counters.get("rejected.duplicate") == 3, what="repeats")
        clock.advance(5)
        node.send(lines.splitlines(keepends=True)[0] + b"20;zz;broken\r\n")
        wait_for(lambda: gw.counters.get("events.rf") == 4, what="second press")
        assert rows(gw) == [("rf-ev1527-045a42", "panic", {"code": "06"}),
                            ("rf-ev1527-01e9f5", "door_open", {"code": "0b"}),
                            ("rf-ev1527-01e9f5", "door_close", {"code": "03"}),
                            ("rf-ev1527-045a42", "panic", {"code": "06"})]
        assert gw.counters.group("rejected") == {"duplicate": 3}
        assert gw.counters.get("dropped.rflink_bad_line") == 1
    finally:
        gw.stop()
        node.close()


def test_rtl433_process_lines_become_events(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write(open(sys.argv[1]).read() * 2); sys.stdout.flush()"
    gw = make(tmp_path, [DeviceSettings("rf-genericremote-13cd", "keyfob", model="sc2260-keyfob")],
              rtl433=Rtl433Settings((sys.executable, "-c", script, str(VECTORS / "rtl_433.jsonl"))))
    try:
        wait_for(lambda: gw.counters.get("rejected.duplicate") == 4, what="all lines")
        assert rows(gw) == [("rf-genericremote-13cd", "panic", {"code": "03", "model": "Generic-Remote"})]
    finally:
        gw.stop()


def test_rf_bridge_line_and_unknown_rf_device(tmp_path: Path) -> None:
    node = PtyNode()
    clock = FakeClock()
    gw = make(tmp_path, [DeviceSettings("sn-00b1", "bridge", model="sw-rf-bridge"),
                         DeviceSettings("rf-ev1527-01e9f5", "door", model="ev1527-door")],
              clock=clock, serial=(SerialSettings(node.port),))
    try:
        assert gw.ports[0].wait_open(10)
        frame = (0x01E9F5 << 4) | 0xB  # transmitter 01e9f5, data 0xb = open
        line = sl.encode(sl.SerialRfCode("00b1", 3, "ev1527", "%06x" % frame, {"bits": 24}))
        node.send(line)
        assert node.read_msg() == sl.SerialAck("00b1", 3, sl.AckLevel.STORED)
        node.send(line)  # the bridge retries until acked: a repeat, acked again
        assert node.read_msg() == sl.SerialAck("00b1", 3, sl.AckLevel.STORED)
        clock.advance(10)
        node.send(line)  # a retry after the repeat window is still the same line
        assert node.read_msg() == sl.SerialAck("00b1", 3, sl.AckLevel.STORED)
        node.send(sl.encode(sl.SerialRfCode("00b1", 4, "ev1527", "abcdef", {"bits": 24})))
        assert node.read_msg() == sl.SerialNak("00b1", 4, "unknown_device")
        assert rows(gw) == [("rf-ev1527-01e9f5", "door_open", {"code": "0b", "bridge": "sn-00b1"})]
        assert [u.device for u in gw.unknown.seen()] == ["rf-ev1527-0abcde"]
        assert gw.counters.get("duplicates") == 1
    finally:
        gw.stop()
        node.close()


def test_rf_bridge_pt2262_keyfob_gets_the_catalog_id(tmp_path: Path) -> None:
    """EV1527 and PT2262 share one air format: the bridge labels the code ev1527 and adds the
    tristate form; the catalog's PT2262 split (16-bit id, 8-bit switch) names the keyfob."""
    node = PtyNode()
    gw = make(tmp_path, [DeviceSettings("sn-00b1", "bridge", model="sw-rf-bridge"),
                         DeviceSettings("rf-pt2262-13cd", "keyfob", model="sc2260-keyfob")],
              serial=(SerialSettings(node.port),))
    try:
        assert gw.ports[0].wait_open(10)
        sos = {"bits": 24, "tri": "0F01101F0001"}  # SC2260 address 0F01101F, button 0001 (SOS)
        node.send(sl.encode(sl.SerialRfCode("00b1", 5, "ev1527", "13cd03", sos)))
        assert node.read_msg() == sl.SerialAck("00b1", 5, sl.AckLevel.STORED)
        other = {"bits": 24, "tri": "1F0F01F10001"}  # a keyfob nobody paired
        node.send(sl.encode(sl.SerialRfCode("00b1", 6, "ev1527", "d13703", other)))
        assert node.read_msg() == sl.SerialNak("00b1", 6, "unknown_device")
        node.send(sl.encode(sl.SerialRfCode("00b1", 7, "ev1527", "1000000", {"bits": 25})))
        assert node.read_msg() == sl.SerialNak("00b1", 7, "bad_code")
        assert rows(gw) == [("rf-pt2262-13cd", "panic", {"code": "03", "bridge": "sn-00b1"})]
        # Neither reading of the unknown code is allowed: both are offered for pairing.
        assert sorted(u.device for u in gw.unknown.seen()) == ["rf-ev1527-0d1370", "rf-pt2262-d137"]
        assert gw.counters.group("rejected") == {"rf_bad_code": 1, "unknown_device": 2}
    finally:
        gw.stop()
        node.close()


def test_supervision_missing_back_and_battery(tmp_path: Path) -> None:
    clock = FakeClock()
    # shelly-blu-door-window: supervision_s = 3600, low_battery_pct = 20 (catalog)
    gw = make(tmp_path, [DeviceSettings("ble-a4c1388d18b2", "door", model="shelly-blu-door-window"),
                         DeviceSettings("ble-5448e68f80a5", "button", model="shelly-blu-button1")],
              clock=clock)
    try:
        gw.supervise()
        clock.advance(3000)
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("400009015d025d0903b718"))
        clock.advance(3500)  # door sensor silent 3500 s < 3600 s
        gw.supervise()
        assert rows(gw) == []
        clock.advance(200)
        gw.supervise()
        gw.supervise()  # reported once
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("40000a010f025d0903b718"))  # back, battery 15 %
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("40000b0110025d0903b718"))  # 16 %: still low
        gw.ble_advert(BUTTON_MAC, bytes.fromhex("40000c011a025d0903b718"))  # 26 %: fixed
        assert [(d, k) for d, k, _ in rows(gw)] == [
            ("ble-a4c1388d18b2", "device_missing"), ("ble-a4c1388d18b2", "device_back"),
            ("ble-a4c1388d18b2", "low_battery"), ("ble-a4c1388d18b2", "battery_ok")]
        assert gw.supervisor.missing() == []
    finally:
        gw.stop()


def test_supervision_uses_heartbeats_of_serial_nodes(tmp_path: Path) -> None:
    node = PtyNode()
    clock = FakeClock()
    gw = make(tmp_path, [DeviceSettings("sn-00a3", "button", model="sw-panic-button")], clock=clock,
              serial=(SerialSettings(node.port),))
    try:
        assert gw.ports[0].wait_open(10)
        clock.advance(2 * 3600 + 1)
        gw.supervise()
        node.event("00a3", 1, Kind.HEARTBEAT, battery=90)
        assert node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)
        wait_for(lambda: len(rows(gw)) == 3, what="three rows")
        assert [k for _, k, _ in rows(gw)] == ["device_missing", "heartbeat", "device_back"]
    finally:
        gw.stop()
        node.close()


class NoBluez:
    def __init__(self, cb: Any) -> None:
        pass

    async def start(self) -> None:
        raise FileNotFoundError(2, "No such file or directory")  # what bleak raises without D-Bus

    async def stop(self) -> None:
        pass


def test_ble_without_bluez_is_counted_and_serial_keeps_working(tmp_path: Path) -> None:
    node = PtyNode()
    gw = make(tmp_path, [DeviceSettings("sn-00a3", "button")], serial=(SerialSettings(node.port),),
              ble=BleSettings(enabled=True), ble_factory=NoBluez)
    try:
        assert gw.ports[0].wait_open(10)
        wait_for(lambda: gw.counters.get("ble.errors") >= 1, what="BLE start failure counted")
        node.event("00a3", 1, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)
    finally:
        gw.stop()
        node.close()


def test_unknown_devices_are_bounded() -> None:
    from gateway.unknown_devices import MAX_UNKNOWN, UnknownDevices

    clock = FakeClock()
    reg = UnknownDevices(clock=clock)
    for n in range(MAX_UNKNOWN + 10):
        clock.advance(1)
        reg.saw("ble-%012x" % n, "ble")
    seen = reg.seen()
    assert len(seen) == MAX_UNKNOWN
    assert seen[0].device == "ble-%012x" % (MAX_UNKNOWN + 9)
    assert "ble-%012x" % 0 not in {s.device for s in seen}


def test_rtl433_exit_is_counted_and_the_receiver_restarted(tmp_path: Path) -> None:
    from gateway.counters import Counters
    from gateway.radio import LineProcess

    lines: list[bytes] = []
    counters = Counters()
    script = "print('{\"model\": \"X\", \"id\": 1, \"cmd\": 3}')"
    rx = LineProcess((sys.executable, "-c", script), lines.append, counters)
    rx.start()
    try:
        wait_for(lambda: len(lines) >= 2, what="second run of the receiver")
    finally:
        rx.stop()
    assert counters.get("rtl433.exits") >= 1
    assert lines[0] == b'{"model": "X", "id": 1, "cmd": 3}\n'

    missing = LineProcess((str(tmp_path / "no-such-rtl_433"),), lines.append, counters)
    missing.start()
    wait_for(lambda: counters.get("rtl433.errors") >= 1, what="missing program counted")
    missing.stop()
