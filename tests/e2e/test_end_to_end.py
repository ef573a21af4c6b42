"""A button press reaches the duty room end to end, and nothing is lost on the way."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from hardware.scripted_node import ScriptedNode
from protocol.kinds import Kind
from tests.e2e.support import GATEWAY, Stack, Subscriber

# Each test starts the server and a gateway as processes (the real commands) beside Mosquitto.
pytestmark = pytest.mark.slow


def _door_kind(i: int) -> Kind:
    return Kind.DOOR_OPEN if i % 2 == 0 else Kind.DOOR_CLOSE


def _server_device_seqs(stack: Stack, device: str) -> list[int]:
    return [r[0] for r in stack.server_rows("SELECT device_seq FROM events WHERE device = ?", device)]


def test_press_on_virtual_board_becomes_case_and_duty_alert(stack: Stack) -> None:
    from hardware.virtual_board import VirtualBoard

    alerts = Subscriber(stack.broker.url, ["sw/v1/duty/#"])
    stack.closers.append(alerts.close)
    board = VirtualBoard(app="panic_button", node="00a3", state_dir=stack.workdir / "board")
    board.start()
    stack.closers.append(board.stop)
    stack.start_gateway([board.port])

    board.press(seconds=2.0)

    topic, alert = alerts.get(timeout=30)
    while alert["event"]["kind"] != "panic":  # heartbeats never alert, but be explicit
        topic, alert = alerts.get(timeout=30)
    assert topic == "sw/v1/duty/c01/t03/v12/g4/alerts"
    assert alert["type"] == "case_opened"
    assert alert["case"]["state"] == "new"
    assert alert["case"]["alarm_class"] == "panic"
    assert alert["device"]["id"] == "sn-00a3"
    assert alert["station"]["code"] == "st-dongcun"
    assert alert["region"]["path"] == ["c01", "t03", "v12", "g4"]
    assert alert["event"]["gateway"] == GATEWAY

    token = stack.server.token()
    cases = stack.server.get("/api/v1/cases?state=new", token)
    items = cases["items"] if isinstance(cases, dict) else cases
    assert [(c["id"], c["device"], c["alarm_class"]) for c in items] == [
        (alert["case"]["id"], "sn-00a3", "panic")
    ]
    # The villager's button learns the alarm was stored, then received by the server.
    seq = alert["event"]["device_seq"]
    assert board.wait_ack(seq, "stored", timeout=10)
    assert board.wait_ack(seq, "delivered", timeout=10)

    # A duty officer accepts; the button is told a person accepted.
    stack.server.post("/api/v1/cases/%d/actions" % alert["case"]["id"], token, {"action": "accept"})
    assert board.wait_ack(seq, "accepted", timeout=10)


@pytest.mark.chaos
def test_broker_down_for_10_s_in_the_middle_of_500_events(stack: Stack) -> None:
    node = ScriptedNode("00a4")
    stack.closers.append(node.close)
    stack.start_gateway([node.port])

    first = [node.send(_door_kind(i)) for i in range(250)]
    assert node.wait_acked_retrying(first, "stored", timeout=30)
    stack.broker.stop()
    stopped = time.monotonic()
    # Local first: with the uplink down the gateway still stores and acks every event.
    second = [node.send(_door_kind(i)) for i in range(250, 500)]
    assert node.wait_acked_retrying(second, "stored", timeout=30)
    time.sleep(max(0.0, 10.0 - (time.monotonic() - stopped)))
    stack.broker.start()

    stack.wait_for(lambda: len(_server_device_seqs(stack, "sn-00a4")) >= 500, 90, "500 events at the server")
    time.sleep(1.0)  # a late duplicate would show up here
    seqs = _server_device_seqs(stack, "sn-00a4")
    assert sorted(seqs) == list(range(1, 501))
    assert node.wait_acked(first + second, "delivered", timeout=30)


@pytest.mark.chaos
def test_gateway_killed_mid_burst_loses_nothing_acked(stack: Stack) -> None:
    node = ScriptedNode("00a4")
    stack.closers.append(node.close)
    gateway = stack.start_gateway([node.port])
    total = 400
    assert node.wait_acked_retrying([node.send(_door_kind(0))], "stored", timeout=30)

    def burst() -> None:
        for i in range(1, total):
            node.send(_door_kind(i))
            time.sleep(0.005)

    writer = threading.Thread(target=burst)
    writer.start()
    stack.wait_for(lambda: len(node.acked("stored")) >= 100, 30, "100 stored acks")
    gateway.kill()
    acked_before_kill = node.acked("stored")
    assert len(acked_before_kill) < total  # the kill landed in the middle of the burst
    writer.join()

    stack.start_gateway([node.port])
    # The node retries whatever it has no `stored` ack for, as the firmware does.
    deadline = time.monotonic() + 60
    while len(node.acked("stored")) < total and time.monotonic() < deadline:
        node.resend_unacked("stored")
        time.sleep(1.0)
    assert len(node.acked("stored")) == total

    stack.wait_for(
        lambda: len(_server_device_seqs(stack, "sn-00a4")) >= total, 60, "all events at the server"
    )
    time.sleep(1.0)
    seqs = _server_device_seqs(stack, "sn-00a4")
    duplicates = [s for s, n in Counter(seqs).items() if n > 1]
    assert duplicates == []
    assert acked_before_kill <= set(seqs)
    assert set(seqs) == set(range(1, total + 1))


def test_corrupted_line_is_dropped_and_neighbours_arrive(stack: Stack) -> None:
    node = ScriptedNode("00a4")
    stack.closers.append(node.close)
    stack.start_gateway([node.port])

    seq1 = node.send(Kind.DOOR_OPEN)
    assert node.wait_acked_retrying([seq1], "stored", timeout=30)  # the gateway has the port open
    _, bad = node.line_for(Kind.DOOR_CLOSE)
    node.write(bad.replace(b"door_close", b"door_clese"))  # CRC no longer matches
    node.write(b"\x00\xffgarbage without a frame\n")
    seq3 = node.send(Kind.DOOR_OPEN, {"battery": 90})

    assert node.wait_acked([seq1, seq3], "delivered", timeout=30)
    assert sorted(_server_device_seqs(stack, "sn-00a4")) == [seq1, seq3]
    assert 2 not in node.acks  # the corrupted line was never acked
