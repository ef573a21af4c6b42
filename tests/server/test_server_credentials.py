"""Gateway credentials against a real Mosquitto using the files the server writes."""

from __future__ import annotations

import queue
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from server.broker.mosquitto import Mosquitto, free_port
from server.db.engine import Database
from server.db.models import Gateway
from server.mqtt_auth import issue_credentials, mosquitto_hash, write_auth_files

TEMPLATE = Path(__file__).with_name("mosquitto_auth.conf.in")


def _client(port: int, user: str, password: str) -> tuple[mqtt.Client, queue.Queue[object]]:
    got: queue.Queue[object] = queue.Queue()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.on_connect = lambda cl, u, f, rc, p: got.put(("connect", rc.value))
    c.on_message = lambda cl, u, m: got.put((m.topic, m.payload))
    c.on_subscribe = lambda cl, u, mid, rcs, p: got.put(("sub", [r.value for r in rcs]))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, got


def test_mosquitto_hash_format() -> None:
    h = mosquitto_hash("pw", salt=b"\x00" * 12)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(h.split("$")[-1]) == 88


def test_gateway_may_publish_only_its_own_topics(db: Database, tmp_path: Path) -> None:
    with db.write() as s:
        gw = s.get(Gateway, "gw-dongcun-01")
        assert gw is not None
        password = issue_credentials(gw)
        s.flush()
        write_auth_files(s, tmp_path / "broker", "sw/v1", "shouwang-server", "Server-Broker-Pass-1")
    assert (tmp_path / "broker" / "passwd").stat().st_mode & 0o777 == 0o640
    with Mosquitto(tmp_path / "broker", port=free_port(), template=TEMPLATE) as broker:
        server, s_got = _client(broker.port, "shouwang-server", "Server-Broker-Pass-1")
        assert s_got.get(timeout=10) == ("connect", 0)
        server.subscribe("sw/v1/gw/+/events", qos=1)
        assert s_got.get(timeout=10) == ("sub", [1])
        gw_client, g_got = _client(broker.port, "gw-dongcun-01", password)
        assert g_got.get(timeout=10) == ("connect", 0)
        gw_client.publish("sw/v1/gw/gw-xicun-01/events", b"forged", qos=1).wait_for_publish(10)
        gw_client.publish("sw/v1/gw/gw-dongcun-01/events", b"mine", qos=1).wait_for_publish(10)
        # The forged message was dropped by the broker, so the first to arrive is ours.
        assert s_got.get(timeout=10) == ("sw/v1/gw/gw-dongcun-01/events", b"mine")
        intruder, i_got = _client(broker.port, "gw-dongcun-01", "wrong-password")
        assert i_got.get(timeout=10) == ("connect", 135)  # not authorized
        for c in (server, gw_client, intruder):
            c.disconnect()
            c.loop_stop()
