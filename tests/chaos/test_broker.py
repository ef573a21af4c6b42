"""The broker restarted in the middle of a burst, and a broker outage long enough for every
client's reconnect backoff to reach its cap."""

from __future__ import annotations

import time

import pytest

from tests.chaos.invariants import server_events, wait_healed
from tests.chaos.stack import DONGCUN, Burst, ChaosStack

pytestmark = pytest.mark.chaos

PRESSES = 120
# paho reconnects with a backoff doubling from 1 s to its cap of 30 s (gateway and server alike,
# not configurable): after 1+2+4+8+16 s of failures every client is in its slowest retry. 35 s of
# outage shows what a minute shows, and the clients' next attempt is at most 30 s after the
# broker is back.
OUTAGE_S = 35.0
RECONNECT_CAP_S = 30.0


def test_broker_restarted_mid_burst(stack: ChaosStack) -> None:
    button, door = stack.villager("00a3"), stack.villager("00a4")
    stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    burst = Burst([button, door], PRESSES).start()
    stack.wait_for(lambda: len(server_events(stack.db)) >= 2 + 40, "40 burst events at the server")

    stack.broker.restart()
    burst.join()
    wait_healed(stack)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_outage(stack: ChaosStack) -> None:
    button, door = stack.villager("00a3"), stack.villager("00a4")
    stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    Burst([button, door], PRESSES // 2).start().join()

    stack.broker.kill()  # a crash: whatever the broker had not saved is gone with it
    down_at = time.monotonic()
    # Local first: with the uplink down the gateway still stores and acks every press.
    during = Burst([button, door], PRESSES // 2).start()
    during.join()
    stack.wait_for(lambda: not (button.sent() - button.stored()) and not (door.sent() - door.stored()),
                   "every press acked stored while the broker is down")
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    stack.broker.start()

    wait_healed(stack, timeout=RECONNECT_CAP_S + 60)
