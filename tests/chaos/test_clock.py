"""The gateway's wall clock jumps an hour forward, then an hour back past where it started
(NTP stepping a Pi that booted without a clock, a person setting it by hand).

The jump goes through the gateway's one wall-clock injection point: `shouwang gateway run`
reads SHOUWANG_TEST_CLOCK_SHIFT_FILE (gateway/clock_shift.py), whose seconds the test rewrites
while the gateway runs. The monotonic clock of the resend timers does not jump, as on Linux.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.clock_shift import CLOCK_SHIFT_ENV, ClockShift
from tests.chaos.invariants import wait_healed
from tests.chaos.stack import DONGCUN, Burst, ChaosStack

pytestmark = pytest.mark.chaos

HOUR = 3600.0


def _set(path: Path, seconds: float) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("%s\n" % seconds, encoding="ascii")
    os.replace(tmp, path)


def _as_utc(value: object) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_gateway_clock_jumps_an_hour_both_ways(stack: ChaosStack, tmp_path: Path) -> None:
    shift = tmp_path / "clock-shift"
    _set(shift, 0)
    button, door = stack.villager("00a3"), stack.villager("00a4")
    stack.start_gateway(DONGCUN, [button, door], env={CLOCK_SHIFT_ENV: str(shift)})
    stack.wait_ready([button, door])
    Burst([button, door], 30).start().join()
    stack.wait_for(lambda: len(button.stored()) == 31, "the first presses stored")
    before_jumps = sorted(button.stored())

    _set(shift, HOUR)
    Burst([button, door], 30).start().join()
    stack.wait_for(lambda: len(button.stored()) == 61, "the presses an hour ahead stored")
    _set(shift, -HOUR)
    Burst([button, door], 30).start().join()
    # A node that missed its acks repeats lines stored on the other side of both jumps: the
    # gateway must still know them (its duplicate memory is kept by the wall clock).
    button.repeat(before_jumps)
    door.repeat(sorted(door.stored())[:31])

    wait_healed(stack)
    now = datetime.now(UTC)
    ats = [_as_utc(at) for (at,) in stack.db.rows("SELECT at FROM events WHERE device = 'sn-00a3'")]
    assert len(ats) == 1 + 90
    # The jumps reached the events: a third of them an hour ahead, a third an hour behind.
    assert sum(1 for at in ats if at > now + timedelta(minutes=50)) == 30
    assert sum(1 for at in ats if at < now - timedelta(minutes=50)) == 30


def test_clock_shift_reads_its_file_on_every_call(tmp_path: Path) -> None:
    path = tmp_path / "shift"
    clock = ClockShift.from_env({CLOCK_SHIFT_ENV: str(path)})
    assert clock is not None
    assert clock.seconds() == 0.0  # no file yet: the plain clock
    _set(path, -HOUR)
    assert clock.seconds() == -HOUR
    assert abs(clock.time() + HOUR - datetime.now(UTC).timestamp()) < 60
    assert abs((clock.now() - datetime.now(UTC)).total_seconds() + HOUR) < 60
    path.write_text("an hour", encoding="ascii")
    assert clock.seconds() == 0.0  # unreadable: the plain clock


def test_clock_shift_is_off_without_its_variable() -> None:
    assert ClockShift.from_env({}) is None
    assert ClockShift.from_env({CLOCK_SHIFT_ENV: ""}) is None
