"""The gateway with our real firmware on virtual boards: BLE adverts from the firmware's own
BTHome encoder, and downlink commands answered by the firmware over a pty."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gateway.config import BleSettings, DeviceSettings, SerialSettings
from gateway.daemon import Gateway
from hardware import rf433
from hardware.virtual_board import VirtualBoard, VirtualScanner
from protocol.ids import ble_device_id
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port
from tests.gateway.gw_support import WAIT, FakeServer, settings, wait_for

KEY = "231d39c1d7cc1ab1aee224cd096db932"
GW = "gw-test-01"


def test_firmware_ble_panic_is_one_event_despite_repeats_and_loss(tmp_path: Path) -> None:
    board = VirtualBoard("panic_button", "00a3", tmp_path / "board", transport="ble", key=KEY,
                         ble_name="SW-BTN")
    board.start()
    device = ble_device_id(board.mac)
    base = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port())
    s = replace(base, ble=BleSettings(enabled=True),
                devices=(DeviceSettings(device, "按钮", model="sw-panic-button-ble", key=KEY),))
    gw = Gateway(s, ble_factory=VirtualScanner.factory([board], loss=0.3))
    gw.start()
    try:
        board.press(seconds=2.0)
        wait_for(lambda: gw.counters.get("events.ble") >= 1, what="panic from the board")
        wait_for(lambda: gw.counters.get("rejected.duplicate") >= 5, what="repeats of the advert")
        assert gw.outbox is not None
        events = [e for e in gw.outbox.pending() if e.kind.value != "heartbeat"]
        assert [(e.device, e.kind.value, e.data["event"]) for e in events] == [
            (device, "panic", "long_press")]
        assert gw.counters.get("rejected.bad_mic") == 0
    finally:
        gw.stop()
        board.stop()


def test_identify_and_ack_level_commands_reach_the_firmware(tmp_path: Path, broker: Mosquitto) -> None:
    board = VirtualBoard("panic_button", "00a3", tmp_path / "board")
    board.start()
    server = FakeServer(broker.host, broker.port, GW).start()
    s = replace(settings(tmp_path, broker.url, [], ["sn-00a3"]), serial=(SerialSettings(board.port),))
    gw = Gateway(s)
    gw.start()
    try:
        board.press(seconds=2.0)
        wait_for(lambda: any(e["kind"] == "panic" for e in server.received()), what="panic at the server")
        panic = next(e for e in server.received() if e["kind"] == "panic")
        assert board.wait_ack(panic["device_seq"], "delivered", WAIT)
        server.command({"id": "i1", "op": "identify", "device": "sn-00a3"})
        assert server.results.get(timeout=WAIT) == {"id": "i1", "ok": True, "device": "sn-00a3"}
        server.command({"id": "a1", "op": "ack_level", "device": "sn-00a3", "device_seq": panic["device_seq"],
                        "level": "accepted"})
        assert server.results.get(timeout=WAIT)["ok"] is True
        assert board.wait_ack(panic["device_seq"], "accepted", WAIT)
    finally:
        gw.stop()
        server.stop()
        board.stop()


def test_firmware_rf_bridge_code_becomes_one_door_event(tmp_path: Path) -> None:
    board = VirtualBoard("rf_bridge", "00b1", tmp_path / "board", board="picow", rf_ack=True)
    board.start()
    s = replace(settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port(), [], ["sn-00b1"]),
                serial=(SerialSettings(board.port),),
                devices=(DeviceSettings("sn-00b1", "bridge", model="sw-rf-bridge"),
                         DeviceSettings("rf-ev1527-01e9f5", "门磁", model="ev1527-door")))
    gw = Gateway(s)
    gw.start()
    try:
        assert gw.ports[0].wait_open(WAIT)
        board.rf_transmit(0x1E9F5B)  # 8 repeats of one EV1527 frame on the air
        wait_for(lambda: gw.counters.get("events.rf") == 1, what="door event")
        assert board.wait_ack(1, "stored", WAIT)
        assert gw.outbox is not None
        [event] = [e for e in gw.outbox.pending() if e.device.startswith("rf-")]
        assert (event.device, event.kind.value, event.data) == (
            "rf-ev1527-01e9f5", "door_open", {"code": "0b", "bridge": "sn-00b1"})
    finally:
        gw.stop()
        board.stop()


def test_firmware_rf_bridge_sc2260_keyfob_gets_its_pt2262_id(tmp_path: Path) -> None:
    """The SOS button of an SC2260 keyfob, on the air to the real bridge firmware: the gateway
    names it by the catalog's PT2262 split, the id the technician paired."""
    board = VirtualBoard("rf_bridge", "00b1", tmp_path / "board", board="picow", rf_ack=True)
    board.start()
    s = replace(settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port(), [], ["sn-00b1"]),
                serial=(SerialSettings(board.port),),
                devices=(DeviceSettings("sn-00b1", "bridge", model="sw-rf-bridge"),
                         DeviceSettings("rf-pt2262-13cd", "遥控器", model="sc2260-keyfob")))
    gw = Gateway(s)
    gw.start()
    try:
        assert gw.ports[0].wait_open(WAIT)
        board.rf_transmit(rf433.pt2262_code("0F01101F0001"), unit_us=300, repeats=10)
        wait_for(lambda: gw.counters.get("events.rf") == 1, what="keyfob event")
        assert board.wait_ack(1, "stored", WAIT)
        assert gw.outbox is not None
        [event] = [e for e in gw.outbox.pending() if e.device.startswith("rf-")]
        assert (event.device, event.kind.value, event.data) == (
            "rf-pt2262-13cd", "panic", {"code": "03", "bridge": "sn-00b1"})
    finally:
        gw.stop()
        board.stop()
