"""The gateway's disk fills up in the middle of a burst, then is freed.

No mount is needed: the kernel's file size limit (RLIMIT_FSIZE), set on the running gateway
with prlimit (its soft value), makes every write past 4 KiB fail with EFBIG, as a full disk fails with ENOSPC:
SQLite's commits fail, and so do the log's writes. Python ignores SIGXFSZ, so the gateway
lives on and sees the failing writes. Raising the limit again frees the disk.
"""

from __future__ import annotations

import resource
import time

import pytest

from tests.chaos.invariants import wait_healed
from tests.chaos.stack import DONGCUN, Burst, ChaosStack

pytestmark = pytest.mark.chaos

FULL_AT_BYTES = 4096


def _stored(stack: ChaosStack) -> set[tuple[str, int]]:
    return {(device, seq) for device, v in stack.villagers.items() for seq in v.stored()}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_gateway_disk_full_mid_burst(stack: ChaosStack) -> None:
    button, door = stack.villager("00a3"), stack.villager("00a4")
    gateway = stack.start_gateway(DONGCUN, [button, door])
    stack.wait_ready([button, door])
    Burst([button, door], 20).start().join()
    wait_healed(stack)
    assert gateway.proc is not None
    pid = gateway.proc.pid

    # The soft limit only: the hard one stays, so the test may raise the soft one again.
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (FULL_AT_BYTES, hard))
    time.sleep(1.0)  # a commit that began before the limit may still finish
    before = _stored(stack)
    burst = Burst([button, door], 40, pause=0.05).start()
    burst.join()
    time.sleep(3.0)  # the villagers retry every second, and every retry fails to be stored
    # Nothing is acked `stored` that the gateway could not write.
    assert _stored(stack) == before
    stack.check_alive()

    resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
    wait_healed(stack)
    assert len(button.stored()) == len(door.stored()) == 1 + 20 + 40
