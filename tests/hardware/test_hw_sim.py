"""The real firmware on the simulated board (injected clock, scripted pins): what a villager
does with the button or the door, and what the node sends for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware import HardwareError
from hardware.sim import SimBoard
from protocol import serial_line as sl
from protocol.kinds import Kind


def decoded(board: SimBoard) -> list[tuple[int, sl.SerialMessage]]:
    return [(t, sl.decode(line)) for t, line in board.sent]


def kinds(board: SimBoard) -> list[str]:
    return [kind for _, kind in board.node.events]


class Gateway:
    """Plays the gateway: acks events with `stored` once it is up, optionally later levels."""

    def __init__(self, up_at_ms: int = 0, nak: set[int] | None = None) -> None:
        self.up_at_ms = up_at_ms
        self.nak = nak or set()
        self.seen: list[tuple[int, bytes]] = []

    def __call__(self, now_ms: int, line: bytes) -> list[bytes]:
        self.seen.append((now_ms, line))
        msg = sl.decode(line)
        if now_ms < self.up_at_ms or not isinstance(msg, sl.SerialEvent):
            return []
        if msg.seq in self.nak:
            return [sl.encode(sl.SerialNak(msg.node, msg.seq, "unknown_device"))]
        return [sl.encode(sl.SerialAck(msg.node, msg.seq, sl.AckLevel.STORED))]


def test_bump_is_ignored(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path)
    board.hold(1000, 400)
    board.run_until(10_000)
    assert board.sent == []
    assert board.node.events == []


def test_long_press_raises_panic_once_while_held(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path, responder=Gateway())
    board.hold(1000, 4000)
    board.run_until(10_000)
    assert board.sent == [(2500, b"EV,00a3,1,panic,battery=87*28DD\n")]
    assert board.node.acks == [(1, "stored")]


def test_contact_bounce_is_filtered(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path, responder=Gateway())
    for t, level in [(1000, 0), (1005, 1), (1010, 0), (1020, 1), (1025, 0), (3000, 1), (3005, 0), (3010, 1)]:
        board.at(t, level)
    board.run_until(6000)
    assert kinds(board) == ["panic"]


def test_double_press_after_panic_cancels(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path, responder=Gateway())
    board.hold(1000, 2000)
    board.hold(6000, 200)
    board.hold(6500, 200)
    board.run_until(9000)
    assert [(m.seq, m.kind) for _, m in decoded(board) if isinstance(m, sl.SerialEvent)] == [
        (1, Kind.PANIC),
        (2, Kind.PANIC_CANCEL),
    ]


def test_retries_back_off_until_stored_then_stop(tmp_path: Path) -> None:
    gateway = Gateway(up_at_ms=9000)
    board = SimBoard(
        "panic_button", "00a3", tmp_path, responder=gateway, retry_base_ms=1000, retry_max_ms=4000
    )
    board.hold(0, 2000)
    board.run_until(30_000)
    line = b"EV,00a3,1,panic,battery=87*28DD\n"
    # 1.5 s press, then +1 s, +2 s, +4 s, +4 s (capped); acked at the 9.5 s attempt.
    assert board.sent == [(1500, line), (2500, line), (4500, line), (8500, line), (12500, line)]
    assert board.node.acks == [(1, "stored")]


def test_nak_stops_retries(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path, responder=Gateway(nak={1}))
    board.hold(0, 2000)
    board.run_until(20_000)
    assert len(board.sent) == 1
    assert board.node.naks == [(1, "unknown_device")]


def test_ack_levels_drive_the_led(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path)
    board.hold(0, 2000)
    board.run_until(1600)
    assert board.node.led.state == 1  # calling: nobody has it yet
    for level in ("stored", "delivered", "accepted"):
        board.inject(sl.encode(sl.SerialAck("00a3", 1, sl.AckLevel(level))))
        board.run_until(board.now_ms + 10)
    assert board.node.acks == [(1, "stored"), (1, "delivered"), (1, "accepted")]
    assert board.node.led.state == 4  # accepted: steady
    # A late, lower ack does not take the villager's reassurance back.
    board.inject(sl.encode(sl.SerialAck("00a3", 1, sl.AckLevel.STORED)))
    board.run_until(board.now_ms + 10)
    assert board.node.led.state == 4


def test_sequence_numbers_survive_a_reboot(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path, responder=Gateway())
    for start in (0, 5000, 10_000):
        board.hold(start, 2000)
    board.run_until(15_000)
    before = [seq for seq, _ in board.node.events]
    assert before == [1, 2, 3]
    rebooted = SimBoard("panic_button", "00a3", tmp_path, responder=Gateway())
    rebooted.hold(0, 2000)
    rebooted.run_until(3000)
    (after,) = [seq for seq, _ in rebooted.node.events]
    assert after > max(before)
    # One flash write per block of 64, not per event.
    assert board.node.seqs.writes == 1


def test_door_edges_and_heartbeat_status(tmp_path: Path) -> None:
    board = SimBoard("door_sensor", "00d1", tmp_path, heartbeat_s=10, responder=Gateway())
    board.door(1000, True)
    board.door(1020, False)  # reed chatter
    board.door(1040, True)
    board.door(5000, False)
    board.run_until(10_500)
    events = [m for _, m in decoded(board) if isinstance(m, sl.SerialEvent)]
    assert [(m.seq, m.kind, m.data) for m in events] == [
        (1, Kind.DOOR_OPEN, {"battery": 87}),
        (2, Kind.DOOR_CLOSE, {"battery": 87}),
        (3, Kind.HEARTBEAT, {"battery": 87, "door": "closed"}),
    ]


def test_low_battery_is_reported_once_with_hysteresis(tmp_path: Path) -> None:
    board = SimBoard("door_sensor", "00d1", tmp_path, heartbeat_s=1, battery=15, responder=Gateway())
    board.run_until(3500)
    board.battery = 25  # still below the ok threshold
    board.run_until(5500)
    board.battery = 80
    board.run_until(6500)
    assert kinds(board) == [
        "low_battery",
        "heartbeat",
        "heartbeat",
        "heartbeat",
        "heartbeat",
        "heartbeat",
        "battery_ok",
        "heartbeat",
    ]


def test_garbage_from_the_gateway_is_counted_not_fatal(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path)
    board.inject(b"\xff\xfe garbage\n" + b"A" * 500 + b"\nAK,00a3,1,stored*0000\n")
    board.hold(100, 2000)
    board.run_until(1000)
    # A line that never ends is dropped up to its newline once it outgrows any valid line.
    board.inject(b"B" * 200)
    board.run_until(1100)
    board.inject(b"B" * 50 + b"\n")
    board.run_until(2000)
    board.inject(sl.encode(sl.SerialAck("00a3", 1, sl.AckLevel.STORED)))
    board.run_until(2100)
    assert board.node.acks == [(1, "stored")]
    assert board.node.errors == {"bad_frame": 1, "too_long": 1, "bad_crc": 1}
    assert board.runner.reader.overflows == 1


def test_unknown_app_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match="unknown app"):
        SimBoard("toaster", "00a3", tmp_path)


def test_tamper_switch_reports_open_and_restore(tmp_path: Path) -> None:
    board = SimBoard("door_sensor", "00d1", tmp_path, tamper=True, heartbeat_s=5, responder=Gateway())
    board.lid(1000, True)
    board.lid(1100, False)  # a knock: shorter than the 200 ms debounce
    board.lid(2000, True)
    board.lid(4000, False)
    board.run_until(5500)
    events = [m for _, m in decoded(board) if isinstance(m, sl.SerialEvent)]
    assert [(m.kind, m.data) for m in events] == [
        (Kind.TAMPER, {"battery": 87}),
        (Kind.TAMPER_RESTORE, {"battery": 87}),
        (Kind.HEARTBEAT, {"battery": 87, "door": "closed", "tamper": 0}),
    ]


def test_buzzer_chirps_for_each_ack_level(tmp_path: Path) -> None:
    board = SimBoard("panic_button", "00a3", tmp_path, buzzer=True)
    board.hold(0, 2000)
    board.run_until(1600)
    heard = []
    for level in ("stored", "delivered", "accepted"):
        board.inject(sl.encode(sl.SerialAck("00a3", 1, sl.AckLevel(level))))
        on = 0
        start = board.now_ms
        while board.now_ms < start + 1500:
            board.run_until(board.now_ms)
            on += board.output("buzzer")
        heard.append(on * board.step_ms)
    assert board.node.buzzer.played == ["stored", "delivered", "accepted"]
    # One short beep, two short beeps, one long: told apart by how long the buzzer sounds.
    assert heard[0] < heard[1] < heard[2]


def test_loop_feeds_the_watchdog_and_sleeps_lightly_only_when_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time as time_module

    from hardware.boardio import firmware_modules
    from hardware.shims import machine

    swmain = firmware_modules()
    board = SimBoard("panic_button", "00a3", tmp_path)
    naps: list[str] = []
    monkeypatch.setattr(machine, "lightsleep", lambda ms: naps.append("light"))
    monkeypatch.setattr(time_module, "sleep_ms", lambda ms: naps.append("poll"), raising=False)
    # The loop reads the tick clock itself: give it the board's clock, not the PC's uptime.
    monkeypatch.setattr(time_module, "ticks_ms", lambda: board.now_ms, raising=False)

    class Watchdog:
        feeds = 0

        def feed(self) -> None:
            self.feeds += 1

    passes = iter(range(6))
    levels = iter([1, 1, 0, 0, 0, 0])  # idle twice, then the button is held down

    def should_stop() -> bool:
        level = next(levels, 0)
        board.at(board.now_ms, level)
        board.run_until(board.now_ms)
        return next(passes, None) is None

    wdt = Watchdog()
    swmain.loop(board.runner, 5, should_stop, wdt, idle_ms=20)
    assert wdt.feeds == 6
    assert naps[:2] == ["light", "light"] and set(naps[2:]) == {"poll"}


def test_loop_survives_a_failing_step_and_reboots_when_it_keeps_failing(tmp_path: Path) -> None:
    from hardware.boardio import firmware_modules

    swmain = firmware_modules()
    board = SimBoard("panic_button", "00a3", tmp_path)

    class Flaky:
        faults = 0

        def __init__(self, fail: set[int]) -> None:
            self.fail = fail
            self.calls = 0

        def step(self, now_ms: int) -> None:
            self.calls += 1
            if self.calls in self.fail:
                raise ValueError("bug hit by odd input")
            board.runner.step(now_ms)

    flaky = Flaky({2, 3})
    passes = iter(range(5))
    swmain.loop(flaky, 0, lambda: next(passes, None) is None)
    assert (flaky.calls, flaky.faults) == (5, 2)

    always = Flaky(set(range(1, 100)))
    with pytest.raises(SystemExit, match="reset"):  # the shim's machine.reset()
        swmain.loop(always, 0, lambda: False)
    assert always.calls == 20


def test_maintenance_mode_when_the_button_is_held_at_power_up(tmp_path: Path) -> None:
    from hardware.boardio import firmware_modules
    from hardware.shims import machine

    swmain = firmware_modules()
    board = SimBoard("panic_button", "00a3", tmp_path)
    machine.bind(board)
    try:
        assert swmain.maintenance_requested(board.cfg) is False
        board.at(0, 0)
        board.run_until(0)
        assert swmain.maintenance_requested(board.cfg) is True
    finally:
        machine.bind(None)


def test_usb_serial_port_reads_and_writes_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os
    import sys

    from hardware.boardio import firmware_modules

    swmain = firmware_modules()
    read_fd, write_fd = os.pipe()

    class Console:
        # Like MicroPython's stdin: an unbuffered byte stream under `.buffer`, pollable.
        def __init__(self) -> None:
            self.buffer = io.FileIO(read_fd, "r")

        def fileno(self) -> int:
            return read_fd

        def close(self) -> None:
            self.buffer.close()

    stdin = Console()
    stdout = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    port = swmain.UsbSerial()
    assert port.read() is None
    line = sl.encode(sl.SerialAck("00a3", 1, sl.AckLevel.STORED))
    os.write(write_fd, line)
    assert port.read() == line
    port.write(b"EV,00a3,1,panic*29B1\n")
    assert stdout.buffer.getvalue() == b"EV,00a3,1,panic*29B1\n"
    os.close(write_fd)
    stdin.close()


def test_tick_counter_wrap_changes_nothing(tmp_path: Path) -> None:
    # MicroPython's ms counter wraps every 2**30 ms (12.4 days): a press and its retries
    # across the wrap must behave exactly as anywhere else.
    start = (1 << 30) - 700
    board = SimBoard("panic_button", "00a3", tmp_path, start_ms=start, heartbeat_s=3600)
    board.hold(start, 2000)
    board.run_until(start + 8000)
    assert [t - start for t, _ in board.sent] == [1500, 2500, 4500]
    assert board.node.events == [(1, "panic")]
