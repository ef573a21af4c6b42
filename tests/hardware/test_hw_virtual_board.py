"""The virtual board over a real pty: a test plays the gateway with pyserial, as the gateway's
serial adapter does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from hardware.virtual_board import VirtualBoard
from protocol import serial_line as sl
from protocol.kinds import Kind


@pytest.fixture
def board(tmp_path: Path) -> Iterator[VirtualBoard]:
    with VirtualBoard(
        app="panic_button", node="00a3", state_dir=tmp_path, heartbeat_s=3600.0, long_press_ms=200
    ) as b:
        yield b


def read_event(port: serial.Serial, deadline_s: float = 5.0) -> sl.SerialEvent:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = port.readline()
        if line:
            msg = sl.decode(line)
            assert isinstance(msg, sl.SerialEvent)
            return msg
    raise AssertionError("no line from the board")


def test_panic_over_the_pty_and_ack_levels(board: VirtualBoard) -> None:
    with serial.Serial(board.port, 115200, timeout=0.05) as port:
        board.press(seconds=0.5)
        event = read_event(port)
        assert event == sl.SerialEvent("00a3", 1, Kind.PANIC, {"battery": 87})
        for level in (sl.AckLevel.STORED, sl.AckLevel.DELIVERED, sl.AckLevel.ACCEPTED):
            port.write(sl.encode(sl.SerialAck("00a3", 1, level)))
            assert board.wait_ack(1, level.value, timeout=5)
        assert board.acks == [(1, "stored"), (1, "delivered"), (1, "accepted")]
        assert board.led == 1  # accepted: steady light


def test_board_retransmits_identical_bytes_until_acked(board: VirtualBoard) -> None:
    with serial.Serial(board.port, 115200, timeout=0.05) as port:
        board.press(seconds=0.5)
        first = read_event(port)
        second = read_event(port)  # no ack: the node tries again after about a second
        assert first == second
        assert board.sent[0] == board.sent[1] == sl.encode(first)
        port.write(sl.encode(sl.SerialAck("00a3", first.seq, sl.AckLevel.STORED)))
        assert board.wait_ack(first.seq, "stored", timeout=5)


def test_command_gets_a_result(board: VirtualBoard) -> None:
    with serial.Serial(board.port, 115200, timeout=0.05) as port:
        port.write(sl.encode(sl.SerialCommand("00a3", 7, "ping")))
        end = time.monotonic() + 5
        line = b""
        while not line and time.monotonic() < end:
            line = port.readline()
        assert sl.decode(line) == sl.SerialCommandResult("00a3", 7, True, {"battery": 87})


def test_several_boards_in_one_process(tmp_path: Path) -> None:
    boards = [
        VirtualBoard(app="panic_button", node="00a%d" % i, state_dir=tmp_path / str(i), long_press_ms=200)
        for i in range(3)
    ] + [VirtualBoard(app="door_sensor", node="00d1", state_dir=tmp_path / "door")]
    for b in boards:
        b.start()
    try:
        ports = [serial.Serial(b.port, 115200, timeout=0.05) for b in boards]
        boards[1].press(0.4)
        boards[3].open_door()
        got: dict[str, sl.SerialMessage] = {}
        end = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < end:
            for b, port in zip(boards, ports, strict=True):
                line = port.readline()
                if line:
                    got[b.node] = sl.decode(line)
        assert {node: (m.seq, m.kind) for node, m in got.items() if isinstance(m, sl.SerialEvent)} == {
            "00a1": (1, Kind.PANIC),
            "00d1": (1, Kind.DOOR_OPEN),
        }
        assert boards[0].sent == [] and boards[2].sent == []
        for port in ports:
            port.close()
    finally:
        for b in boards:
            b.stop()


def test_gateway_reopening_the_port_loses_nothing(board: VirtualBoard) -> None:
    # The gateway restarts: the port closes, a panic happens meanwhile, the port reopens.
    serial.Serial(board.port, 115200, timeout=0.05).close()
    board.press(seconds=0.4)
    seq = board.wait_event("panic", timeout=5)
    assert seq == 1
    with serial.Serial(board.port, 115200, timeout=0.05) as port:
        port.reset_input_buffer()
        event = read_event(port)  # a retransmission reaches the new listener
        assert event.seq == 1
        port.write(sl.encode(sl.SerialAck("00a3", 1, sl.AckLevel.STORED)))
        assert board.wait_ack(1, "stored", timeout=5)


def test_sequence_continues_after_board_restart(tmp_path: Path) -> None:
    with VirtualBoard(app="door_sensor", node="00d1", state_dir=tmp_path) as b:
        b.open_door()
        assert b.wait_event("door_open", timeout=5) == 1
    with VirtualBoard(app="door_sensor", node="00d1", state_dir=tmp_path) as b:
        b.open_door()
        seq = b.wait_event("door_open", timeout=5)
        assert seq is not None and seq > 1
