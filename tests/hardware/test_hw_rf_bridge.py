"""The RF bridge firmware: 433 MHz pulse traces (clean, jittered, buried in receiver noise)
in, RF serial lines out, mapped by the catalog to the device ids and kinds the gateway uses."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import serial

from hardware import rf433
from hardware.catalog import load_catalog
from hardware.sim import SimBoard
from hardware.virtual_board import VirtualBoard
from protocol import serial_line as sl
from protocol.kinds import Kind


def bridge(tmp_path: Path) -> SimBoard:
    board = SimBoard("rf_bridge", "00b1", tmp_path, board="picow", rf_ack=True)
    board.responder = lambda _now, line: [
        sl.encode(sl.SerialAck("00b1", sl.decode(line).seq, sl.AckLevel.STORED))
    ]
    return board


def rf_codes(board: SimBoard) -> list[tuple[str, str, dict[str, int | str]]]:
    out = []
    for _, line in board.sent:
        msg = sl.decode(line)
        assert isinstance(msg, sl.SerialRfCode)
        out.append((msg.proto, msg.code, msg.data))
    return out


def test_ev1527_door_sensor_through_bridge_and_catalog(tmp_path: Path) -> None:
    board = bridge(tmp_path)
    rng = random.Random(7)
    board.rf(rf433.noise(rng, 300_000))
    board.rf(rf433.jitter(rf433.transmission(0x1E9F5B, unit_us=420), rng))  # door opened
    board.rf(rf433.noise(rng, 300_000))
    board.run_until(2000)
    board.rf(rf433.jitter(rf433.transmission(0x1E9F53, unit_us=420), rng))  # door closed
    board.run_until(4000)
    assert rf_codes(board) == [
        ("ev1527", "1e9f5b", {"bits": 24}),
        ("ev1527", "1e9f53", {"bits": 24}),
    ]
    door = load_catalog()["ev1527-door"]
    mapped = []
    for proto, code, _ in rf_codes(board):
        device, switch = door.rf_split(proto, code)
        mapped.append((device, door.kind_for(switch)))
    # The same ids RFLink reports for this sensor (tests/vectors/rflink.txt).
    assert mapped == [("rf-ev1527-01e9f5", Kind.DOOR_OPEN), ("rf-ev1527-01e9f5", Kind.DOOR_CLOSE)]


def test_sc2260_keyfob_sos(tmp_path: Path) -> None:
    board = bridge(tmp_path)
    code = rf433.pt2262_code("0F01101F0001")  # rtl_433 vector: id 5069, cmd 3
    board.rf(rf433.transmission(code, unit_us=300, repeats=10))
    board.run_until(100)
    ((_proto, code_hex, data),) = rf_codes(board)
    assert (code_hex, data["tri"]) == ("13cd03", "0F01101F0001")
    fob = load_catalog()["sc2260-keyfob"]
    assert fob.rf_split("pt2262", code_hex) == ("rf-pt2262-13cd", "03")
    assert fob.kind_for("03") is Kind.PANIC


def test_repeats_within_a_second_are_reported_once(tmp_path: Path) -> None:
    board = bridge(tmp_path)
    for t in (0, 300, 600, 900):
        board.run_until(t)
        board.rf(rf433.transmission(0x045A46, repeats=5))
    board.run_until(2500)
    board.rf(rf433.transmission(0x045A46, repeats=5))  # pressed again after a quiet second
    board.run_until(2600)
    assert [code for _, code, _ in rf_codes(board)] == ["045a46", "045a46"]


@pytest.mark.parametrize("seed", range(8))
def test_noise_never_becomes_a_code(tmp_path: Path, seed: int) -> None:
    board = bridge(tmp_path)
    rng = random.Random(seed)
    for _ in range(10):
        board.rf(rf433.noise(rng, 1_000_000))
        board.run_until(board.now_ms + 100)
    assert board.sent == []
    assert board.runner.decoder.aborted > 0 or board.runner.decoder.frames == 0


@pytest.mark.parametrize("seed", range(8))
def test_codes_survive_noise_and_jitter(tmp_path: Path, seed: int) -> None:
    board = bridge(tmp_path)
    rng = random.Random(100 + seed)
    codes = [rng.getrandbits(24) for _ in range(5)]
    for code in codes:
        board.rf(rf433.noise(rng, 200_000))
        board.rf(rf433.jitter(rf433.transmission(code, unit_us=rng.randint(250, 600)), rng, 0.15))
        board.rf(rf433.noise(rng, 200_000))
        board.run_until(board.now_ms + 1500)
    assert [code for _, code, _ in rf_codes(board)] == ["%06x" % c for c in codes]


def test_bridge_is_not_retried_once_stored_and_reports_reception_in_heartbeat(tmp_path: Path) -> None:
    board = SimBoard("rf_bridge", "00b1", tmp_path, board="picow", heartbeat_s=1, rf_ack=True)
    board.responder = lambda _now, line: [
        sl.encode(sl.SerialAck("00b1", sl.decode(line).seq, sl.AckLevel.STORED))
    ]
    board.rf(rf433.transmission(0x1E9F5B))
    board.run_until(1100)
    beats = [sl.decode(line) for _, line in board.sent if b"heartbeat" in line]
    assert [m.data for m in beats if isinstance(m, sl.SerialEvent)] == [{"frames": 8, "noise": 0}]
    assert len([line for _, line in board.sent if line.startswith(b"RF,")]) == 1


def test_virtual_bridge_over_a_pty(tmp_path: Path) -> None:
    with VirtualBoard(app="rf_bridge", node="00b1", state_dir=tmp_path, board="picow", rf_ack=True) as board:
        with serial.Serial(board.port, 115200, timeout=0.05) as port:
            board.rf_transmit(0x1E9F5B)
            end = time.monotonic() + 5
            line = b""
            while not line and time.monotonic() < end:
                line = port.readline()
            assert sl.decode(line) == sl.SerialRfCode("00b1", 1, "ev1527", "1e9f5b", {"bits": 24})
            port.write(sl.encode(sl.SerialAck("00b1", 1, sl.AckLevel.STORED)))
            assert board.wait_ack(1, "stored", timeout=5)


def test_without_rf_ack_each_code_is_sent_once(tmp_path: Path) -> None:
    # A gateway that does not ack RF lines must not get the same door opening every 30 s.
    board = SimBoard("rf_bridge", "00b1", tmp_path, board="picow", rf_ack=False)
    board.rf(rf433.transmission(0x1E9F5B))
    board.run_until(120_000)
    assert [line for _, line in board.sent] == [b"RF,00b1,1,ev1527,1e9f5b,bits=24*1CB7\n"]
