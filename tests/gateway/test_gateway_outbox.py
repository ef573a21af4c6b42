from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.counters import Counters
from gateway.errors import OutboxError
from gateway.outbox import LEVEL_DELIVERED, LEVEL_STORED, Appended, BleMemory, Incoming, Outbox, OutboxReader
from gateway.store import OutboxWriter
from protocol.kinds import Kind, Priority
from tests.gateway.gw_support import FakeClock

AT = datetime(2026, 11, 23, 8, 0, 0, 123000, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def ev(device: str = "sn-00a3", seq: int | None = None, kind: Kind = Kind.PANIC, body: str | None = None,
       **data: int) -> Incoming:
    return Incoming(device=device, kind=kind, at=AT, device_seq=seq, data=dict(data),
                    body=body if body is not None else (None if seq is None else "EV,%s,%d" % (device, seq)))


def test_append_and_read_back_whole_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    res = box.append([ev(seq=17, battery=87), ev("sn-00b1", None, Kind.HEARTBEAT)])
    assert res == [Appended(1, False, LEVEL_STORED), Appended(2, False, LEVEL_STORED)]
    assert [e.to_dict() for e in box.pending()] == [
        {"v": 1, "id": "gw-test-01:1", "gateway": "gw-test-01", "device": "sn-00a3", "kind": "panic",
         "priority": "alarm", "at": "2026-11-23T08:00:00.123Z", "device_seq": 17, "data": {"battery": 87}},
        {"v": 1, "id": "gw-test-01:2", "gateway": "gw-test-01", "device": "sn-00b1", "kind": "heartbeat",
         "priority": "status", "at": "2026-11-23T08:00:00.123Z", "data": {}},
    ]
    assert box.backlog == 2


def test_seq_is_monotonic_across_restarts_and_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path, "gw-test-01")
    box.append([ev(seq=i) for i in range(1, 4)])
    box.settle([(1, 3)])  # the newest rows are gone: a plain max(seq)+1 would reuse 3
    box.close()
    box = Outbox(path, "gw-test-01")
    assert box.backlog == 0
    assert [a.seq for a in box.append([ev(seq=10), ev(seq=11)])] == [4, 5]
    box.close()
    box = Outbox(path, "gw-test-01")
    assert box.append([ev(seq=12)])[0].seq == 6
    assert box.last_seq() == 6


def test_duplicate_is_reacked_not_stored_and_remembers_delivery(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    first = box.append([ev(seq=17)])[0]
    again = box.append([ev(seq=17)])[0]
    assert again == Appended(first.seq, True, LEVEL_STORED)
    assert box.backlog == 1
    box.settle([(first.seq, first.seq)])
    assert box.append([ev(seq=17)])[0] == Appended(first.seq, True, LEVEL_DELIVERED)
    assert box.backlog == 0
    # Same device_seq, different body: a different event (e.g. node lost its counter), stored.
    other = box.append([ev(seq=17, body="EV,sn-00a3,17,door_open")])[0]
    assert not other.duplicate and other.seq > first.seq


def test_duplicate_inside_one_group(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    res = box.append([ev(seq=5), ev(seq=5), ev(seq=6)])
    assert res == [Appended(1, False, 1), Appended(1, True, 1), Appended(2, False, 1)]


def test_duplicate_window_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "o.db", "gw-test-01", clock=clock)
    box.append([ev(seq=1)])
    clock.advance(24 * 3600 - 1)
    assert box.append([ev(seq=1)])[0].duplicate
    clock.advance(2)
    assert not box.append([ev(seq=1)])[0].duplicate


def test_settle_only_touches_acked_rows(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    box.append([ev(seq=i) for i in range(1, 11)])
    settled = box.settle([(2, 4), (8, 8), (100, 200)])
    assert [s.seq for s in settled] == [2, 3, 4, 8]
    assert [e.seq for e in box.pending()] == [1, 5, 6, 7, 9, 10]
    assert box.settle([(2, 4)]) == []


def test_group_commit_shares_one_transaction(tmp_path: Path) -> None:
    counters = Counters()
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    writer = OutboxWriter(box, counters)
    acked: list[Appended] = []
    for i in range(300):
        writer.submit(ev(seq=i + 1), acked.append)
    writer.start()  # everything queued before the writer runs lands in one group
    writer.stop()
    assert counters.get("stored") == 300
    assert counters.get("commits") == 1
    assert [a.seq for a in acked] == list(range(1, 301))


def test_writer_acks_only_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path, "gw-test-01")
    writer = OutboxWriter(box, Counters())
    reader = OutboxReader(path, "gw-test-01")
    seen_in_db: list[int] = []
    writer.submit(ev(seq=1), lambda a: seen_in_db.extend(e.seq for e in reader.pending()))
    writer.start()
    writer.stop()
    assert seen_in_db == [1]


def test_disk_cap_evicts_status_then_fault_never_alarm(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01", max_bytes=20_000)
    pad = {"pad": 10**9}
    box.append([ev("sn-0001", i, Kind.HEARTBEAT, **pad) for i in range(1, 101)])
    box.append([ev("sn-0002", i, Kind.LOW_BATTERY, **pad) for i in range(1, 51)])
    box.append([ev("sn-0003", i, Kind.PANIC, **pad) for i in range(1, 201)])
    kinds = [e.kind for e in box.pending(limit=10_000)]
    assert kinds.count(Kind.PANIC) == 200
    assert kinds.count(Kind.HEARTBEAT) == 0
    assert box.evicted["status"] == 100
    assert box.evicted["fault"] == 50
    # Over the cap with alarms only: nothing more to evict, alarms still accepted.
    assert not box.append([ev("sn-0003", 999, Kind.PANIC)])[0].duplicate


def test_priority_override_is_kept(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    item = Incoming("sn-0001", Kind.DOOR_OPEN, AT, 1, {}, "b", Priority.ALARM)
    box.append([item])
    assert box.pending()[0].priority is Priority.ALARM


def test_unopenable_outbox_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "o.db").mkdir()
    with pytest.raises(OutboxError, match="cannot open outbox"):
        Outbox(tmp_path / "o.db", "gw-test-01")


WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from gateway.counters import Counters
    from gateway.outbox import Incoming, Outbox
    from gateway.store import OutboxWriter
    from protocol.kinds import Kind

    box = Outbox(Path(sys.argv[1]), "gw-test-01")
    writer = OutboxWriter(box, Counters())

    def acked(result, n):
        # What the node would hear: printed only once the row is committed.
        sys.stdout.write("%d %d\\n" % (n, result.seq))
        sys.stdout.flush()

    writer.start()
    n = 0
    while True:
        n += 1
        item = Incoming("sn-00a3", Kind.PANIC, datetime.now(UTC), n, {"n": n, "pad": "x" * 200},
                        "EV,00a3,%d,panic" % n)
        writer.submit(item, lambda r, n=n: acked(r, n))
        if n % 50 == 0:
            import time; time.sleep(0.001)
""")


def test_sigkill_mid_write_loses_nothing_acked(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    acked: dict[int, int] = {}
    while len(acked) < 3000:
        line = proc.stdout.readline()
        assert line, "writer died early"
        n, seq = map(int, line.split())
        acked[n] = seq
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for line in proc.stdout.read().splitlines():  # acks already written before the kill
        n, seq = map(int, line.split())
        acked[n] = seq
    proc.stdout.close()

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    box = Outbox(path, "gw-test-01")
    rows = {e.seq: e for e in box.pending(limit=10**7)}
    for n, seq in acked.items():
        assert rows[seq].device_seq == n
        assert rows[seq].data == {"n": n, "pad": "x" * 200}
    # Every row is whole, acked or not (no half-written row).
    assert all(e.data["n"] == e.device_seq for e in rows.values())
    # A retransmission of an acked event after the crash is recognised.
    n, seq = max(acked.items())
    again = box.append([Incoming("sn-00a3", Kind.PANIC, AT, n, {}, "EV,00a3,%d,panic" % n)])[0]
    assert again == Appended(seq, True, LEVEL_STORED)
    assert box.append([ev(seq=10**6)])[0].seq > max(rows)


def test_ble_memory_survives_reopening_and_a_counter_never_goes_back(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    box.remember_ble([BleMemory("ble-a4c1388d18b2", None, {"window": False}),
                      BleMemory("ble-5448e68f80a5", 0x33221100, {"motion": True})])
    box.remember_ble([BleMemory("ble-a4c1388d18b2", None, {"window": True, "tamper": False}),
                      BleMemory("ble-5448e68f80a5", 0x33221000, {"motion": False})])  # older counter
    box.close()
    box = Outbox(tmp_path / "o.db", "gw-test-01")
    try:
        assert box.load_ble() == [
            BleMemory("ble-5448e68f80a5", 0x33221100, {"motion": False}),
            BleMemory("ble-a4c1388d18b2", None, {"tamper": False, "window": True}),
        ]
    finally:
        box.close()
    with pytest.raises(OutboxError, match=r"^BLE state update failed: "):
        box.remember_ble([BleMemory("ble-a4c1388d18b2", 1, {})])
    with pytest.raises(OutboxError, match=r"^cannot read BLE states: "):
        box.load_ble()


def test_server_high_water_moves_the_sequence_past_it(tmp_path: Path) -> None:
    """A reinstalled gateway starts at seq 1 again; the server's ack names the highest seq it
    holds, and the outbox continues above it, for good."""
    path = tmp_path / "o.db"
    box = Outbox(path, "gw-test-01")
    assert [a.seq for a in box.append([ev(seq=1), ev(seq=2)])] == [1, 2]
    box.move_past(40)
    assert box.append([ev(seq=3)])[0].seq == 41
    box.move_past(10)  # an older mark never moves it back
    assert box.append([ev(seq=4)])[0].seq == 42
    box.close()
    box = Outbox(path, "gw-test-01")
    assert box.last_seq() == 42
    assert [e.seq for e in box.pending()] == [1, 2, 41, 42]  # nothing waiting is lost or renumbered
    box.move_past(99)
    box.close()
    box = Outbox(path, "gw-test-01")  # the mark itself is kept, not only rows above it
    assert box.append([ev(seq=5)])[0].seq == 100
