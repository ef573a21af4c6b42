"""A station's gateway reinstalled under the same id with an empty data directory (the SD card
died, the Pi was re-imaged): its outbox starts again at seq 1, under ids the server holds."""

from __future__ import annotations

import shutil

import pytest

from tests.chaos.invariants import server_events, wait_healed
from tests.chaos.stack import DONGCUN, Burst, ChaosStack

pytestmark = pytest.mark.chaos

PRESSES = 40


def test_gateway_reinstalled_with_empty_data_dir(stack: ChaosStack) -> None:
    button, door = stack.villager("00a3"), stack.villager("00a4")
    gateway = stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    Burst([button, door], PRESSES).start().join()
    wait_healed(stack)
    before = {e.id for e in server_events(stack.db)}

    gateway.stop()
    shutil.rmtree(stack.gateway_dir(DONGCUN) / "data")
    stack.start_gateway(DONGCUN, [button, door])
    Burst([button, door], PRESSES).start().join()

    wait_healed(stack)
    # The new gateway's first events reused ids the server already held: stored all the same.
    assert len(server_events(stack.db)) == 2 + 2 * 2 * PRESSES
    assert before < {e.id for e in server_events(stack.db)}
