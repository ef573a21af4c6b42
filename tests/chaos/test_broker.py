"""The broker restarted in the middle of a burst, and a broker outage long enough for every
client's reconnect backoff to grow to its slow end.

Both run on SQLite only: the broker's faults reach the server's database through the same ingest
code whichever database it is, and the suite's time goes to what differs."""

from __future__ import annotations

import time

import pytest

from tests.chaos.invariants import server_events, wait_healed
from tests.chaos.stack import DONGCUN, Burst, ChaosStack

pytestmark = pytest.mark.chaos

PRESSES = 120
# A minute, scaled down: paho reconnects with a backoff doubling from 1 s to a cap of 30 s
# (gateway and server alike, not configurable), so after 20 s down every client waits 16 s
# between attempts, and the clients' next attempt comes at most that long after the broker is
# back. The gateway's resend timer is 2 s (the stack's gateway config).
OUTAGE_S = 20.0
RECONNECT_WAIT_S = 16.0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
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

    # Down as when its machine or the link is: stopped with its sessions saved. (A broker that
    # crashes loses what it did not save, the duty room's session included: see the ops docs.)
    stack.broker.stop()
    down_at = time.monotonic()
    # Local first: with the uplink down the gateway still stores and acks every press.
    during = Burst([button, door], PRESSES // 2).start()
    during.join()
    stack.wait_for(lambda: not (button.sent() - button.stored()) and not (door.sent() - door.stored()),
                   "every press acked stored while the broker is down")
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    stack.broker.start()

    wait_healed(stack, timeout=RECONNECT_WAIT_S + 60)
