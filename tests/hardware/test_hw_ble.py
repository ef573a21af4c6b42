"""Our firmware's BLE transport: encrypted BTHome v2 adverts, decoded with the same decoder
the gateway uses for Shelly devices (protocol.bthome), including the key and the counter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hardware.catalog import load_catalog
from hardware.shims import install
from hardware.sim import SimBoard
from protocol.bthome import BthomeAdvert, decode_bthome
from protocol.errors import ProtocolError
from protocol.kinds import Kind

install()
import swbthome  # type: ignore[import-not-found]  # noqa: E402

KEY = "231d39c1d7cc1ab1aee224cd096db932"


def ble_board(tmp_path: Path, app: str = "panic_button", **config: Any) -> SimBoard:
    node = "00a3" if app == "panic_button" else "00d1"
    return SimBoard(app, node, tmp_path, transport="ble", key=KEY, ble_name="SW-BTN", **config)


def decoded(board: SimBoard, key: str = KEY) -> list[tuple[int, BthomeAdvert | None]]:
    out: list[tuple[int, BthomeAdvert | None]] = []
    for t, adv in board.adverts:
        if adv is None:
            out.append((t, None))
        else:
            out.append((t, decode_bthome(swbthome.parse_service_data(adv), board.mac, bytes.fromhex(key))))
    return out


def tokens(advert: BthomeAdvert) -> list[str]:
    found = ["%s=%s" % (k, v) for k, v in advert.events.items()]
    found += ["%s=%s" % (k, str(v).lower()) for k, v in advert.values.items() if isinstance(v, bool)]
    return found


def test_panic_advert_decodes_and_repeats_for_five_seconds(tmp_path: Path) -> None:
    board = ble_board(tmp_path)
    board.hold(1000, 2000)
    board.run_until(10_000)
    (t_on, advert), (t_off, stopped) = decoded(board)
    assert advert is not None and stopped is None
    assert (t_on, t_off) == (2500, 7500)  # one payload, same packet id, on air for 5 s
    assert advert.encrypted and advert.counter == 1 and advert.packet_id == 1
    assert advert.values == {"packet_id": 1, "battery": 87}
    assert advert.events == {"button": "long_press"}
    model = load_catalog()["sw-panic-button-ble"]
    assert [model.kind_for(t) for t in tokens(advert)] == [Kind.PANIC]


def test_cancel_and_door_adverts(tmp_path: Path) -> None:
    button = ble_board(tmp_path / "b")
    button.hold(0, 2000)
    button.hold(8000, 200)
    button.hold(8500, 200)
    button.run_until(20_000)
    adverts = [a for _, a in decoded(button) if a is not None]
    model = load_catalog()["sw-panic-button-ble"]
    assert [[model.kind_for(t) for t in tokens(a)] for a in adverts] == [[Kind.PANIC], [Kind.PANIC_CANCEL]]

    door = ble_board(tmp_path / "d", app="door_sensor")
    door.door(1000, True)
    door.door(4000, False)
    door.run_until(8000)
    door_model = load_catalog()["sw-door-sensor-ble"]
    door_adverts = [a for _, a in decoded(door) if a is not None]
    assert [[door_model.kind_for(t) for t in tokens(a)] for a in door_adverts] == [
        [Kind.DOOR_OPEN],
        [Kind.DOOR_CLOSE],
    ]


def test_counter_never_goes_back_across_a_reboot(tmp_path: Path) -> None:
    board = ble_board(tmp_path)
    for start in (0, 10_000):
        board.hold(start, 2000)
    board.run_until(20_000)
    before = [a.counter for _, a in decoded(board) if a is not None]
    rebooted = ble_board(tmp_path)
    rebooted.hold(0, 2000)
    rebooted.run_until(3000)
    after = [a.counter for _, a in decoded(rebooted) if a is not None]
    assert before == [1, 2]
    assert len(after) == 1 and after[0] is not None and after[0] > 2


def test_wrong_key_and_tampered_advert_are_refused(tmp_path: Path) -> None:
    board = ble_board(tmp_path)
    board.hold(0, 2000)
    board.run_until(3000)
    advert = board.adverts[0][1]
    assert advert is not None
    data = swbthome.parse_service_data(advert)
    with pytest.raises(ProtocolError) as err:
        decode_bthome(data, board.mac, bytes(16))
    assert err.value.reason == "bad_mic"
    forged = bytearray(data)
    forged[2] ^= 0x01
    with pytest.raises(ProtocolError) as err:
        decode_bthome(bytes(forged), board.mac, bytes.fromhex(KEY))
    assert err.value.reason == "bad_mic"
    # Another device's address in the nonce: the advert does not verify either.
    with pytest.raises(ProtocolError):
        decode_bthome(data, "C2:00:00:00:00:A4", bytes.fromhex(KEY))


def test_alarm_jumps_the_queue_and_heartbeat_is_skipped_behind_news(tmp_path: Path) -> None:
    board = ble_board(tmp_path, app="door_sensor", heartbeat_s=3)
    board.door(100, True)  # door_open on air 2 s from ~200 ms
    board.run_until(10_000)
    kinds = [kind for _, kind in board.node.events]
    assert kinds[0] == "door_open"
    assert "heartbeat" in kinds


def test_advert_fits_legacy_advertising(tmp_path: Path) -> None:
    board = ble_board(tmp_path)
    board.hold(0, 2000)
    board.run_until(3000)
    advert = board.adverts[0][1]
    assert advert is not None and len(advert) <= 31
    assert advert.endswith(b"SW-BTN")


def test_virtual_board_radiates_to_a_lossy_scanner(tmp_path: Path) -> None:
    import asyncio
    import threading
    import time

    from hardware.virtual_board import VirtualBoard, VirtualScanner

    heard: list[tuple[str, bytes]] = []
    got_panic = threading.Event()

    def on_advert(mac: str, data: bytes, rssi: int | None) -> None:
        heard.append((mac, data))
        advert = decode_bthome(data, mac, bytes.fromhex(KEY))
        if advert.events.get("button") == "long_press":
            got_panic.set()

    board = VirtualBoard(
        app="panic_button", node="00a3", state_dir=tmp_path, transport="ble", key=KEY, long_press_ms=100
    )
    with board:
        scanner = VirtualScanner.factory([board], loss=0.7)(on_advert)
        asyncio.run(scanner.start())
        board.press(0.3)
        assert got_panic.wait(5)
        deadline = time.monotonic() + 4
        while len(heard) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        asyncio.run(scanner.stop())
    # Many copies of one advert reached the scanner despite the loss: same bytes, same counter.
    assert len(heard) > 1
    assert len(set(heard)) == 1
    assert heard[0][0] == board.mac


def test_flapping_door_does_not_grow_the_advert_queue(tmp_path: Path) -> None:
    board = ble_board(tmp_path, app="door_sensor")
    for i in range(60):
        board.door(1000 + 300 * i, i % 2 == 0)
    board.run_until(1000 + 300 * 60)
    assert len(board.node._queue) <= 8
    assert len([k for _, k in board.node.events if k.startswith("door")]) == 60
