"""The gateway against a real Mosquitto, a pty node and a fake server that acks with paho."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.daemon import Gateway
from protocol import serial_line as sl
from protocol.kinds import Kind
from protocol.payloads import encode_ack
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port
from tests.gateway.gw_support import WAIT, FakeClock, FakeServer, PtyNode, settings, wait_for

REPO = Path(__file__).resolve().parents[2]
GW = "gw-test-01"


@pytest.fixture
def node() -> Iterator[PtyNode]:
    n = PtyNode()
    yield n
    n.close()


def start_gateway(tmp_path: Path, broker: Mosquitto, node: PtyNode, **kw: Any) -> Gateway:
    clock = kw.pop("monotonic", None) or FakeClock()
    gw = Gateway(settings(tmp_path, broker.url, [node.port], ["sn-00a3", "sn-00b1"], **kw), monotonic=clock)
    gw.start()
    assert gw.ports[0].wait_open(WAIT)
    assert gw.uplink is not None and gw.uplink.connected.wait(WAIT)
    return gw


def retained(broker: Mosquitto, topic: str) -> dict[str, Any]:
    got: queue.Queue[bytes] = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_connect = lambda cl, *a: cl.subscribe(topic, 1)
    c.on_message = lambda cl, u, m: got.put(m.payload) if m.retain else None
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        return dict(json.loads(got.get(timeout=WAIT)))
    finally:
        c.disconnect()
        c.loop_stop()


def test_events_reach_the_server_and_delivered_reaches_the_node(tmp_path: Path, broker: Mosquitto,
                                                               node: PtyNode) -> None:
    server = FakeServer(broker.host, broker.port, GW).start()
    gw = start_gateway(tmp_path, broker, node)
    try:
        node.event("00a3", 17, Kind.PANIC, battery=87)
        node.event("00b1", 3, Kind.DOOR_OPEN)
        msgs = node.read_msgs(4)
        assert set(msgs) == {sl.SerialAck("00a3", 17, sl.AckLevel.STORED),
                             sl.SerialAck("00b1", 3, sl.AckLevel.STORED),
                             sl.SerialAck("00a3", 17, sl.AckLevel.DELIVERED),
                             sl.SerialAck("00b1", 3, sl.AckLevel.DELIVERED)}
        # stored always comes before delivered for the same event
        assert msgs.index(sl.SerialAck("00a3", 17, sl.AckLevel.STORED)) < msgs.index(
            sl.SerialAck("00a3", 17, sl.AckLevel.DELIVERED))
        events = sorted(server.received(), key=lambda e: e["device"])
        for e in events:
            e.pop("at")
        assert events == [
            {"v": 1, "id": GW + ":1", "gateway": GW, "device": "sn-00a3", "kind": "panic",
             "priority": "alarm", "device_seq": 17, "data": {"battery": 87}},
            {"v": 1, "id": GW + ":2", "gateway": GW, "device": "sn-00b1", "kind": "door_open",
             "priority": "status", "device_seq": 3, "data": {}},
        ] or events[0]["id"] == GW + ":2"
        wait_for(lambda: gw.counters.get("delivered") == 2, what="delivered counted")
        assert gw.outbox is not None and gw.outbox.backlog == 0
    finally:
        gw.stop()
        server.stop()


def test_batches_hold_up_to_the_batch_size(tmp_path: Path, broker: Mosquitto, node: PtyNode) -> None:
    from gateway.outbox import Outbox
    from tests.gateway.test_gateway_outbox import ev

    s = settings(tmp_path, broker.url, [], ["sn-00a3"], batch_size=500)
    box = Outbox(s.outbox_path, GW)
    box.append([ev(seq=i) for i in range(1, 1201)])  # a backlog from a time without uplink
    box.close()
    server = FakeServer(broker.host, broker.port, GW, auto_ack=False).start()
    gw = Gateway(s, monotonic=FakeClock())
    gw.start()
    try:
        wait_for(lambda: len(server.seqs()) == 1200, what="1200 events")
        assert server.batches == 3
        assert sorted(server.seqs()) == list(range(1, 1201))
        assert sorted(len(b) for b in server.batch_sizes) == [200, 500, 500]
    finally:
        gw.stop()
        server.stop()


def test_nothing_is_delivered_without_the_ack_and_timeouts_resend(tmp_path: Path, broker: Mosquitto,
                                                                node: PtyNode) -> None:
    server = FakeServer(broker.host, broker.port, GW, auto_ack=False).start()
    clock = FakeClock()
    gw = start_gateway(tmp_path, broker, node, monotonic=clock)
    try:
        node.event("00a3", 1, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)
        wait_for(lambda: len(server.received()) == 1, what="first publish")
        assert gw.uplink is not None
        gw.uplink.wake()
        wait_for(lambda: gw.counters.get("mqtt.batches") >= 1, what="published")
        # PUBACK has come and gone; the row stays until the server's ack message.
        assert gw.outbox is not None and gw.outbox.backlog == 1
        assert gw.counters.get("delivered") == 0
        clock.advance(5.0)
        gw.uplink.wake()
        wait_for(lambda: len(server.received()) == 2, what="resend after timeout")
        wait_for(lambda: gw.counters.get("resent") == 1, what="resend counted")
        assert [e["id"] for e in server.received()] == [GW + ":1", GW + ":1"]
        server.ack([1])
        assert node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.DELIVERED)
        assert gw.outbox.backlog == 0
        clock.advance(60.0)
        gw.uplink.wake()
        gw.uplink.wake()
        assert gw.counters.get("resent") == 1
    finally:
        gw.stop()
        server.stop()


def test_unacked_events_are_resent_after_broker_restart(tmp_path: Path, broker: Mosquitto,
                                                        node: PtyNode) -> None:
    server = FakeServer(broker.host, broker.port, GW, auto_ack=False).start()
    gw = start_gateway(tmp_path, broker, node)
    try:
        node.event("00a3", 1, Kind.PANIC)
        node.event("00a3", 2, Kind.FIRE)
        node.read_msgs(2)
        wait_for(lambda: len(server.received()) == 2, what="first publish")
        server.stop()
        broker.kill()  # loses what it had not saved
        assert gw.uplink is not None
        wait_for(lambda: not gw.uplink.connected.is_set(), what="gateway notices")
        node.event("00a3", 3, Kind.MEDICAL)  # stored while the uplink is down
        assert node.read_msg() == sl.SerialAck("00a3", 3, sl.AckLevel.STORED)
        broker.start()
        server = FakeServer(broker.host, broker.port, GW, auto_ack=True).start()
        msgs = node.read_msgs(3)
        assert set(msgs) == {sl.SerialAck("00a3", s, sl.AckLevel.DELIVERED) for s in (1, 2, 3)}
        assert server.seqs() == {1, 2, 3}
        wait_for(lambda: gw.outbox is not None and gw.outbox.backlog == 0, what="drained")
    finally:
        gw.stop()
        server.stop()


def test_bad_ack_and_command_payloads_are_counted(tmp_path: Path, broker: Mosquitto, node: PtyNode) -> None:
    server = FakeServer(broker.host, broker.port, GW).start()
    gw = start_gateway(tmp_path, broker, node)
    try:
        server.client.publish("sw/v1/gw/%s/ack" % GW, b"{not json", qos=1)
        server.client.publish("sw/v1/gw/%s/ack" % GW, b'{"seqs":[[5,1]]}', qos=1)
        server.client.publish("sw/v1/gw/%s/cmd" % GW, b'{"op":"x"}', qos=1)
        wait_for(lambda: gw.counters.group("rejected") == {"bad_ack": 2, "bad_command": 1}, what="counted")
        node.event("00a3", 1, Kind.PANIC)  # still works
        assert node.read_msgs(2)[1] == sl.SerialAck("00a3", 1, sl.AckLevel.DELIVERED)
    finally:
        gw.stop()
        server.stop()


def test_ack_level_command_reaches_the_node(tmp_path: Path, broker: Mosquitto, node: PtyNode) -> None:
    server = FakeServer(broker.host, broker.port, GW).start()
    gw = start_gateway(tmp_path, broker, node)
    try:
        node.event("00a3", 17, Kind.PANIC)
        node.read_msgs(2)
        server.command({"id": "c1", "op": "ack_level", "device": "sn-00a3", "device_seq": 17,
                        "level": "accepted"})
        assert node.read_msg() == sl.SerialAck("00a3", 17, sl.AckLevel.ACCEPTED)
        assert server.results.get(timeout=WAIT) == {"id": "c1", "ok": True, "device": "sn-00a3",
                                                    "device_seq": 17, "level": "accepted"}
        # A retransmission now hears the highest level reached.
        node.event("00a3", 17, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 17, sl.AckLevel.ACCEPTED)
        server.command({"id": "c2", "op": "ack_level", "device": "sn-0999", "device_seq": 1,
                        "level": "accepted"})
        assert server.results.get(timeout=WAIT)["ok"] is False
        server.command({"id": "c3", "op": "self_destruct"})
        assert server.results.get(timeout=WAIT) == {"id": "c3", "ok": False, "error": "unknown_op",
                                                    "op": "self_destruct"}
    finally:
        gw.stop()
        server.stop()


def test_status_is_retained_online_and_offline_on_stop(tmp_path: Path, broker: Mosquitto,
                                                       node: PtyNode) -> None:
    gw = start_gateway(tmp_path, broker, node)
    try:
        status = retained(broker, "sw/v1/gw/%s/status" % GW)
        assert status["state"] == "online"
        assert status["version"]
        assert status["backlog"] == 0
        assert status["devices"] == {"known": 2, "unknown_seen": 0, "missing": 0}
    finally:
        gw.stop()
    assert retained(broker, "sw/v1/gw/%s/status" % GW)["state"] == "offline"


CONFIG = """
[gateway]
id = "%s"
data_dir = "data"
[mqtt]
url = "%s"
[[serial]]
port = "%s"
[[devices]]
id = "sn-00a3"
"""


def test_cli_run_sigkill_leaves_lwt_offline_and_sigterm_stops_cleanly(tmp_path: Path, broker: Mosquitto,
                                                                        node: PtyNode) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text(CONFIG % (GW, broker.url, node.port))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    server = FakeServer(broker.host, broker.port, GW).start()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(conf)], env=env,
                                stderr=subprocess.DEVNULL)
        wait_for(lambda: any(s["state"] == "online" for s in server.statuses), what="online")
        node.event("00a3", 1, Kind.PANIC)
        assert node.read_msgs(2)[1] == sl.SerialAck("00a3", 1, sl.AckLevel.DELIVERED)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert retained(broker, "sw/v1/gw/%s/status" % GW)["state"] == "offline"

        env["SHOUWANG_GATEWAY_CONFIG"] = str(conf)
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run"], env=env,
                                stderr=subprocess.DEVNULL)
        status = "sw/v1/gw/%s/status" % GW
        wait_for(lambda: retained(broker, status)["state"] == "online", what="online again")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
        assert retained(broker, "sw/v1/gw/%s/status" % GW)["state"] == "offline"
        assert sorted(server.seqs()) == [1]
    finally:
        server.stop()


def test_broker_down_at_start_is_not_fatal(tmp_path: Path, node: PtyNode) -> None:
    gw = Gateway(settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port(), [node.port], ["sn-00a3"]))
    gw.start()
    try:
        node.event("00a3", 1, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)
        assert gw.outbox is not None and gw.outbox.backlog == 1
    finally:
        gw.stop()


def test_delivered_reaches_a_node_not_heard_since_a_restart(tmp_path: Path, broker: Mosquitto,
                                                            node: PtyNode) -> None:
    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port(), [node.port], ["sn-00a3"])
    gw = Gateway(s, monotonic=FakeClock())
    gw.start()
    try:
        assert gw.ports[0].wait_open(WAIT)
        node.event("00a3", 7, Kind.PANIC)
        assert node.read_msg() == sl.SerialAck("00a3", 7, sl.AckLevel.STORED)
    finally:
        gw.stop()  # uplink was never reachable: the event waits in the outbox
    server = FakeServer(broker.host, broker.port, GW).start()
    from dataclasses import replace

    gw = Gateway(replace(s, mqtt=replace(s.mqtt, url=broker.url)), monotonic=FakeClock())
    gw.start()
    try:
        assert node.read_msg() == sl.SerialAck("00a3", 7, sl.AckLevel.DELIVERED)
        assert server.seqs() == {1}
    finally:
        gw.stop()
        server.stop()


def test_ack_high_water_moves_the_gateway_sequence(tmp_path: Path, broker: Mosquitto, node: PtyNode) -> None:
    server = FakeServer(broker.host, broker.port, GW, auto_ack=False).start()
    gw = start_gateway(tmp_path, broker, node)
    try:
        node.event("00a3", 1, Kind.PANIC)
        wait_for(lambda: server.seqs() == {1}, what="seq 1 at the server")
        # The server already held seqs up to 57 from this gateway's previous install.
        server.client.publish(server.topics.ack(GW), encode_ack([1], high_water=57), qos=1)
        wait_for(lambda: gw.counters.get("delivered") == 1, what="ack applied")
        node.event("00a3", 2, Kind.PANIC)
        wait_for(lambda: 58 in server.seqs(), what="the next event above the mark")
        assert server.seqs() == {1, 58}
    finally:
        gw.stop()
        server.stop()
