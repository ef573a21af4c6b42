"""The station's durable action queue: what staff did survives a crash, leaves only on the
server's result, a result delivered twice changes nothing, a full disk is a clear error; and the
channel that sends it keeps the order and waits for the alarm to reach the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.counters import Counters
from gateway.kiosk.actions import APPLIED, QUEUED, REFUSED, ActionChannel, ActionQueue, ActionRow
from gateway.kiosk.db import KioskDb
from gateway.kiosk.errors import DiskFull
from protocol.actions import ActionResult, StationAction, encode_action_results
from protocol.topics import Topics
from tests.conftest import REPO

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
GW = "gw-dongcun-01"


def action(n: int, verb: str = "going", event: str = GW + ":42", note: str = "") -> StationAction:
    return StationAction("%032x" % n, event, verb, "王芳", NOW + timedelta(seconds=n), note)


def test_actions_keep_order_and_original_times(tmp_path: Path) -> None:
    queue = ActionQueue(KioskDb(tmp_path))
    for n, verb in ((3, "going"), (1, "handled"), (2, "false_alarm")):
        queue.add(action(n, verb, note="n%d" % n))
    assert queue.queued() == [action(3, "going", note="n3"), action(1, "handled", note="n1"),
                              action(2, "false_alarm", note="n2")]
    assert queue.count_queued() == 3


def test_a_queued_action_survives_sigkill(tmp_path: Path) -> None:
    """The writer process is killed right after it said the action was taken."""
    script = textwrap.dedent("""
        import sys, time
        from datetime import UTC, datetime
        from pathlib import Path
        from gateway.kiosk.actions import ActionQueue
        from gateway.kiosk.db import KioskDb
        from protocol.actions import StationAction
        queue = ActionQueue(KioskDb(Path(sys.argv[1])))
        queue.add(StationAction("%032x" % 7, "gw-dongcun-01:42", "going", "王芳",
                                datetime(2026, 11, 23, 8, 0, 7, tzinfo=UTC), "路上"))
        print("taken", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    with proc.stdout:
        try:
            assert proc.stdout.readline() == b"taken\n"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    queue = ActionQueue(KioskDb(tmp_path))
    assert queue.queued() == [action(7, note="路上")]


def test_an_action_leaves_the_queue_only_on_its_result(tmp_path: Path) -> None:
    queue = ActionQueue(KioskDb(tmp_path))
    queue.add(action(1))
    queue.add(action(2, "handled", note="已到场"))
    queue.add(action(3, "false_alarm"))
    refused = ActionResult(action(3).id, False, "case_closed", {"detail": "closed", "state": "closed"})
    applied = ActionResult(action(1).id, True, "", {"case": 12, "state": "accepted"})
    done = queue.settle([applied, refused], NOW)
    assert done == [(action(1), ActionResult(action(1).id, True, "", {"case": 12, "state": "accepted"})),
                    (action(3, "false_alarm"), ActionResult(action(3).id, False, "case_closed",
                                                            {"detail": "closed", "state": "closed"}))]
    assert queue.queued() == [action(2, "handled", note="已到场")]
    assert queue.for_events([GW + ":42"]) == {GW + ":42": [
        ActionRow(action(1), APPLIED), ActionRow(action(2, "handled", note="已到场"), QUEUED),
        ActionRow(action(3, "false_alarm"), REFUSED, "case_closed", "closed")]}


def test_a_result_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    queue = ActionQueue(KioskDb(tmp_path))
    queue.add(action(1))
    result = ActionResult(action(1).id, True, "", {"case": 12})
    assert len(queue.settle([result], NOW)) == 1
    version = queue.version
    assert queue.settle([result], NOW) == []  # the broker redelivered it
    assert queue.settle([ActionResult(action(9).id, True)], NOW) == []  # never ours
    assert queue.version == version
    assert queue.for_events([GW + ":42"]) == {GW + ":42": [ActionRow(action(1), APPLIED)]}


def test_a_full_kiosk_database_is_a_clear_error_and_keeps_what_it_has(tmp_path: Path) -> None:
    queue = ActionQueue(KioskDb(tmp_path, max_bytes=64 * 1024))
    added = 0
    with pytest.raises(DiskFull) as err:
        for n in range(1, 1000):
            queue.add(action(n, note="备注" * 240))
            added += 1
    assert (err.value.status, err.value.reason) == (507, "disk_full")
    assert 10 < added < 1000
    assert len(queue.queued(limit=1000)) == added  # nothing lost, nothing half-written
    assert queue.settle([ActionResult(action(1).id, True)], NOW)  # settling still works


def test_actions_are_refused_while_the_disk_keeps_its_reserve_for_alarms(tmp_path: Path) -> None:
    reserve = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize + 1024**3
    queue = ActionQueue(KioskDb(tmp_path, reserve_bytes=reserve))
    with pytest.raises(DiskFull) as err:
        queue.add(action(1))
    assert "kept for alarms" in err.value.detail
    assert queue.queued() == []


# --- the channel ---------------------------------------------------------------------------------

class Sent:
    """What the channel handed to the uplink to publish."""

    def __init__(self, accept: bool = True) -> None:
        self.messages: list[tuple[str, list[dict[str, object]]]] = []
        self.accept = accept

    def __call__(self, topic: str, payload: bytes) -> bool:
        self.messages.append((topic, json.loads(payload)))
        return self.accept

    def ids(self) -> list[list[str]]:
        return [[a["id"] for a in body] for _, body in self.messages]  # type: ignore[index]


def channel(
    tmp_path: Path, delivered: set[str]
) -> tuple[ActionChannel, ActionQueue, list[object], list[bool]]:
    queue = ActionQueue(KioskDb(tmp_path))
    results: list[object] = []
    links: list[bool] = []
    ch = ActionChannel(queue, Topics(), GW, Counters(), deliverable=lambda e: e in delivered,
                       on_results=results.extend, on_link=links.append, now=lambda: NOW, resend_after_s=5.0)
    return ch, queue, results, links


def test_channel_sends_in_order_one_message_at_a_time(tmp_path: Path) -> None:
    ch, queue, results, links = channel(tmp_path, {GW + ":42", GW + ":43"})
    assert ch.topics == ("sw/v1/gw/gw-dongcun-01/actions/ack",)
    queue.add(action(1))
    queue.add(action(2, "handled"))
    sent = Sent()
    ch.pump(sent, 100.0)
    assert sent.messages == []  # the link is down: nothing goes out
    ch.link_up()
    ch.pump(sent, 100.0)
    assert sent.messages[0][0] == "sw/v1/gw/gw-dongcun-01/actions"
    assert sent.ids() == [[action(1).id, action(2).id]]
    assert sent.messages[0][1][0] == {"v": 1, "id": action(1).id, "event": GW + ":42", "action": "going",
                                      "by": "王芳", "at": "2026-11-23T08:00:01.000Z"}
    queue.add(action(3, event=GW + ":43"))
    ch.pump(sent, 101.0)
    assert len(sent.messages) == 1  # waits for the results of the message in flight
    ch.received(ch.ack_topic, encode_action_results([ActionResult(action(1).id, True, "", {"case": 5}),
                                                     ActionResult(action(2).id, True, "", {"case": 5})]))
    assert [a.id for a, _ in results] == [action(1).id, action(2).id]  # type: ignore[attr-defined]
    ch.pump(sent, 102.0)
    assert sent.ids()[1:] == [[action(3).id]]
    assert links == [True]


def test_channel_resends_without_a_result_and_on_reconnect(tmp_path: Path) -> None:
    ch, queue, _, links = channel(tmp_path, {GW + ":42"})
    queue.add(action(1))
    sent = Sent(accept=False)  # paho refused it: the timer sends it again
    ch.link_up()
    ch.pump(sent, 100.0)
    ch.pump(sent, 104.9)
    ch.pump(sent, 105.0)
    assert sent.ids() == [[action(1).id], [action(1).id]]
    ch.link_down()
    ch.pump(sent, 200.0)
    ch.link_up()
    ch.pump(sent, 200.5)  # a reconnect sends again at once
    assert sent.ids() == [[action(1).id]] * 3
    assert links == [True, False, True]


def test_channel_waits_until_the_server_has_the_alarm(tmp_path: Path) -> None:
    delivered: set[str] = set()
    ch, queue, _, _ = channel(tmp_path, delivered)
    queue.add(action(1, event=GW + ":42"))
    queue.add(action(2, event=GW + ":7"))  # its alarm is delivered, but it must wait its turn
    delivered.add(GW + ":7")
    sent = Sent()
    ch.link_up()
    ch.pump(sent, 100.0)
    assert sent.messages == []
    delivered.add(GW + ":42")
    ch.pump(sent, 100.1)
    assert sent.ids() == [[action(1).id, action(2).id]]


def test_channel_ignores_bad_results(tmp_path: Path) -> None:
    ch, queue, results, _ = channel(tmp_path, {GW + ":42"})
    queue.add(action(1))
    ch.received(ch.ack_topic, b'{"results": "nope"}')
    ch.received(ch.ack_topic, b"\xff")
    assert results == [] and queue.count_queued() == 1
    assert ch.counters.get("rejected.bad_action_ack") == 2
