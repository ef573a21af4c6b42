"""A station's gateway is reinstalled (dead SD card, re-imaged Pi) under the same id.

Its new outbox starts at seq 1, ids the server already holds. The next press must still open
a case and reach the duty room, and the gateway must move its sequence past the server's.
"""

from __future__ import annotations

import shutil

from hardware.scripted_node import ScriptedNode
from protocol.kinds import Kind
from tests.e2e.support import GATEWAY, Stack, Subscriber


def _panic_alert(alerts: Subscriber) -> dict[str, object]:
    while True:
        _, alert = alerts.get(timeout=30)
        if alert["event"] is not None and alert["event"]["kind"] == "panic":
            return dict(alert)


def test_reinstalled_gateway_with_an_empty_data_dir_raises_a_new_case(stack: Stack) -> None:
    alerts = Subscriber(stack.broker.url, ["sw/v1/duty/#"])
    stack.closers.append(alerts.close)
    node = ScriptedNode("00a3")
    stack.closers.append(node.close)
    gateway = stack.start_gateway([node.port])

    first = node.send(Kind.PANIC)
    assert node.wait_acked_retrying([first], "stored", timeout=30)
    assert node.wait_acked([first], "delivered", timeout=30)
    opened = _panic_alert(alerts)
    case_id = opened["case"]["id"]  # type: ignore[index]
    token = stack.server.token()
    for action in ("accept", "close"):
        stack.server.post("/api/v1/cases/%d/actions" % case_id, token, {"action": action})

    gateway.stop()
    data_dir = stack.workdir / GATEWAY
    for item in data_dir.iterdir():  # everything but the config: a fresh install
        if item.name != "gateway.toml":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    stack.start_gateway([node.port])

    second = node.send(Kind.PANIC)
    assert node.wait_acked_retrying([second], "stored", timeout=30)
    assert node.wait_acked([second], "delivered", timeout=30)
    again = _panic_alert(alerts)
    while again["type"] != "case_opened":  # the first case's close notices come first
        again = _panic_alert(alerts)
    assert again["case"]["id"] != case_id  # type: ignore[index]
    assert again["event"]["device_seq"] == second  # type: ignore[index]
    # Stored under a fresh id above the server's, and remembered as sent under seq 1.
    sql = "SELECT seq, sent_id FROM events WHERE device = 'sn-00a3' AND device_seq = ?"
    ((old_seq, old_sent),) = stack.server_rows(sql, first)
    ((new_seq, new_sent),) = stack.server_rows(sql, second)
    assert (old_seq, old_sent, new_sent) == (1, None, "%s:1" % GATEWAY)
    assert new_seq > old_seq
    gw = stack.server.get("/api/v1/gateways/%s" % GATEWAY, token)
    assert gw["reused_seqs"] == 1

    # The gateway moved past the mark: its next event is stored under the id it was sent as.
    third = node.send(Kind.HEARTBEAT)
    assert node.wait_acked([third], "delivered", timeout=30)
    ((next_seq, next_sent),) = stack.server_rows(sql, third)
    assert (next_seq > new_seq, next_sent) == (True, None)
