"""Server instances in the shared events subscription (issue: a stale session ate half the ingest).

An instance that went away must stop taking a share of the gateways' batches within seconds;
with the old 7-day session it kept every other batch until the gateway's resend timeout.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.topics import Topics
from server.ingest.mqtt import Inbound, MqttLink
from shouwang.mosquitto import Mosquitto

WAIT = 10.0
TOPIC = "sw/v1/gw/gw-share-01/events"


@contextmanager
def publisher(broker: Mosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-share-01", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def instance(broker: Mosquitto, client_id: str, expiry: int) -> tuple[MqttLink, queue.Queue[Inbound | None]]:
    inbox: queue.Queue[Inbound | None] = queue.Queue()
    link = MqttLink(broker.url, client_id, Topics("sw/v1"), inbox, session_expiry=expiry)
    link.start()
    assert link.wait_connected(WAIT)
    return link, inbox


def payloads(inbox: queue.Queue[Inbound | None], timeout: float) -> list[bytes]:
    out: list[bytes] = []
    while True:
        try:
            item = inbox.get(timeout=timeout)
        except queue.Empty:
            return out
        assert item is not None
        out.append(item.payload)


def publish(client: mqtt.Client, body: bytes) -> None:
    client.publish(TOPIC, body, qos=1).wait_for_publish(WAIT)


def test_an_instance_that_left_stops_taking_a_share_within_its_session_expiry(broker: Mosquitto) -> None:
    gone, _ = instance(broker, "shouwang-server-gone", expiry=1)
    stays, inbox = instance(broker, "shouwang-server-stays", expiry=1)
    gone.stop()
    with publisher(broker) as gw:
        # Until the broker drops the absent instance's session, a batch may be queued for it
        # (its gateway would resend it). Probe until ten batches in a row reach the instance
        # that stays; a session that never expires never lets that happen.
        in_a_row, n = 0, 0
        while in_a_row < 10:
            n += 1
            assert n < 60, "the absent instance kept its share of the subscription"
            publish(gw, b"probe-%d" % n)
            got = payloads(inbox, 0.3)
            in_a_row = in_a_row + 1 if got == [b"probe-%d" % n] else 0
        batches = [b"[batch-%d]" % i for i in range(40)]
        for body in batches:
            publish(gw, body)
        received: list[bytes] = []
        while len(received) < len(batches):
            item = inbox.get(timeout=WAIT)
            assert item is not None
            received.append(item.payload)
    stays.stop()
    assert received == batches


def test_a_restarted_instance_drops_what_its_old_session_held(broker: Mosquitto) -> None:
    """Clean start: nothing queued for an earlier run is replayed to a new process (the
    gateways resend it), and that earlier run's share ends when the new one connects."""
    old, _ = instance(broker, "shouwang-server-a", expiry=3600)
    other, other_inbox = instance(broker, "shouwang-server-b", expiry=3600)
    old.stop()
    with publisher(broker) as gw:
        for i in range(10):
            publish(gw, b"[while-away-%d]" % i)
        away = payloads(other_inbox, 1.0)
        assert 0 < len(away) < 10  # the long session did hold part of them: the old behaviour
        new, new_inbox = instance(broker, "shouwang-server-a", expiry=3600)
        assert payloads(new_inbox, 1.0) == []
        batches = [b"[after-%d]" % i for i in range(10)]
        for body in batches:
            publish(gw, body)
        got = payloads(new_inbox, 1.0) + payloads(other_inbox, 0.2)
    new.stop()
    other.stop()
    assert sorted(got) == sorted(batches)
