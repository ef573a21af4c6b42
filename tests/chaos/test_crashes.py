"""SIGKILL of the gateway and of the server in the middle of a burst of alarms."""

from __future__ import annotations

import signal

import pytest

from protocol.kinds import Kind
from tests.chaos.invariants import server_events, wait_healed
from tests.chaos.stack import DONGCUN, Burst, ChaosStack

pytestmark = pytest.mark.chaos

PRESSES = 120  # per device: 60 panics and 60 cancels on the button, as many door events


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the gateway's fault: one database is enough
def test_gateway_killed_mid_burst(stack: ChaosStack) -> None:
    button, door = stack.villager("00a3"), stack.villager("00a4")
    gateway = stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    burst = Burst([button, door], PRESSES).start()
    stack.wait_for(lambda: len(button.stored()) + len(door.stored()) >= 2 + 60, "60 stored acks")

    gateway.kill()
    at_kill = len(button.stored()) + len(door.stored())
    stack.start_gateway(DONGCUN, [button, door])
    burst.join()

    assert at_kill < 2 + 2 * PRESSES  # the kill landed in the middle of the burst
    wait_healed(stack)
    assert len(button.stored()) + len(door.stored()) == 2 + 2 * PRESSES


def test_server_killed_mid_burst(stack: ChaosStack) -> None:
    button, door = stack.villager("00a3"), stack.villager("00a4")
    stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    burst = Burst([button, door], PRESSES).start()
    stack.wait_for(lambda: len(server_events(stack.db)) >= 2 + 40, "40 burst events at the server")

    stack.server.kill()
    held_at_kill = len(server_events(stack.db))
    stack.server.start(timeout=60)
    burst.join()

    assert held_at_kill < 2 + 2 * PRESSES  # the kill landed in the middle of the burst
    wait_healed(stack)
    assert len(server_events(stack.db)) >= 2 + 2 * PRESSES


CRASH_ENV = "SHOUWANG_TEST_CRASH_AT"


# Armed for the first start only: the server dies right after it commits its first batch.
@pytest.mark.parametrize("server_env", [{CRASH_ENV: "ingest_committed"}], indirect=True)
def test_server_killed_between_commit_and_alert(stack: ChaosStack) -> None:
    button = stack.villager("00a3")
    stack.start_gateway(DONGCUN, [button])
    seq = button.press(Kind.PANIC)

    proc = stack.server.proc
    assert proc is not None
    stack.wait_for(lambda: proc.poll() is not None, "the server to die at its crash point", timeout=30,
                   alive=False)
    assert proc.returncode == -signal.SIGKILL
    held = server_events(stack.db)
    assert [(e.device, e.device_seq, e.kind) for e in held] == [("sn-00a3", seq, "panic")]
    assert stack.db.rows("SELECT count(*) FROM cases") == [(1,)]
    assert stack.duty.received() == []  # committed, and no alert left before the crash

    del stack.server.env[CRASH_ENV]
    stack.server.start(timeout=60)
    wait_healed(stack)
    assert [a["type"] for _, a in stack.duty.received()] == ["case_opened"]
