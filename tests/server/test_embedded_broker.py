"""The embedded MQTT broker against real paho-mqtt 2.x clients (v5 and v3.1.1) and raw sockets."""

from __future__ import annotations

import asyncio
import queue
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from server.broker.embedded import BrokerConfig, BrokerError, EmbeddedBroker, serve

HOST = "127.0.0.1"
WAIT = 5.0
V5 = mqtt.MQTTv5
V311 = mqtt.MQTTv311


@dataclass(frozen=True)
class Got:
    """What a subscriber received, in comparable form."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = False


class Client:
    """A paho client whose callbacks feed queues, so tests read events in order."""

    def __init__(
        self,
        broker: EmbeddedBroker,
        client_id: str = "",
        protocol: MQTTProtocolVersion = V5,
        clean: bool = True,
        expiry: int | None = None,
        manual_ack: bool = False,
    ) -> None:
        self.broker = broker
        self.protocol = protocol
        self.clean = clean
        self.expiry = expiry
        kwargs: dict[str, Any] = {}
        if protocol != V5:
            kwargs["clean_session"] = clean
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            manual_ack=manual_ack,
            **kwargs,
        )
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connacks: queue.Queue[tuple[bool, int]] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.unsubacks: queue.Queue[int] = queue.Queue()
        self.paho.on_unsubscribe = lambda _c, _u, mid, _codes, _p: self.unsubacks.put(mid)
        self.paho.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.paho.on_connect = lambda _c, _u, flags, rc, _p: self.connacks.put(
            (bool(flags.session_present), rc.value)
        )
        self.paho.on_subscribe = lambda _c, _u, _mid, codes, _p: self.subacks.put([c.value for c in codes])

    def connect(self) -> bool:
        """Connect and return the CONNACK's session-present flag."""
        props = None
        if self.protocol == V5:
            props = Properties(PacketTypes.CONNECT)
            if self.expiry is not None:
                props.SessionExpiryInterval = self.expiry
            self.paho.connect(HOST, self.broker.port, 30, clean_start=self.clean, properties=props)
        else:
            self.paho.connect(HOST, self.broker.port, 30)
        self.paho.loop_start()
        present, code = self.connacks.get(timeout=WAIT)
        assert code == 0
        return present

    def subscribe(self, topic_filter: str, qos: int = 1) -> list[int]:
        self.paho.subscribe(topic_filter, qos)
        return self.subacks.get(timeout=WAIT)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, **props: Any) -> None:
        properties = None
        if props:
            properties = Properties(PacketTypes.PUBLISH)
            for key, value in props.items():
                setattr(properties, key, value)
        info = self.paho.publish(topic, payload, qos, retain, properties)
        info.wait_for_publish(WAIT)
        assert info.is_published()

    def raw(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=WAIT)

    def get(self) -> Got:
        msg = self.raw()
        return Got(msg.topic, msg.payload, msg.qos, bool(msg.retain))

    def until(self, marker_topic: str) -> list[Got]:
        """Everything received up to (not including) a message on `marker_topic`."""
        out = []
        while (got := self.get()).topic != marker_topic:
            out.append(got)
        return out

    def disconnect(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()

    def drop(self) -> None:
        """Close the socket without DISCONNECT, as a power cut or a dead link does."""
        self.paho.loop_stop()
        sock = self.paho.socket()
        assert isinstance(sock, socket.socket)
        sock.close()


@pytest.fixture
def embedded() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(host=HOST, port=0)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def clients(embedded: EmbeddedBroker) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(*args: Any, **kwargs: Any) -> Client:
        client = Client(embedded, *args, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.paho.disconnect()
        client.paho.loop_stop()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# --- raw MQTT bytes for what paho will not do ---------------------------------------------------


def mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def frame(first: int, body: bytes) -> bytes:
    length, out = len(body), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([first]) + bytes(out) + body


def raw_connect(client_id: str, keepalive: int = 30, will: tuple[str, bytes] | None = None) -> bytes:
    flags = 0x02 | (0x04 | 0x08 if will else 0)  # clean start; will at QoS 1
    body = mqtt_str("MQTT") + bytes([5, flags]) + struct.pack(">H", keepalive) + b"\x00" + mqtt_str(client_id)
    if will:
        body += b"\x00" + mqtt_str(will[0]) + struct.pack(">H", len(will[1])) + will[1]
    return frame(0x10, body)


def read_packet(sock: socket.socket) -> tuple[int, bytes] | None:
    """One packet, or None when the broker closed the connection."""

    def exactly(n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    head = exactly(1)
    if head is None:
        return None
    length, shift = 0, 0
    while True:
        byte = exactly(1)
        assert byte is not None
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    body = exactly(length)
    assert body is not None
    return head[0], body


def packets_until_closed(sock: socket.socket) -> list[tuple[int, bytes]]:
    out = []
    try:
        while (packet := read_packet(sock)) is not None:
            out.append(packet)
    except ConnectionResetError:
        pass
    return out


def raw_session(broker: EmbeddedBroker, client_id: str, **kwargs: Any) -> socket.socket:
    sock = socket.create_connection((HOST, broker.port), timeout=WAIT)
    sock.sendall(raw_connect(client_id, **kwargs))
    assert read_packet(sock) == (0x20, bytes.fromhex("00 00 05 27 00100000"))  # CONNACK, max packet 1 MiB
    return sock


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [V5, V311], ids=["v5", "v3.1.1"])
def test_qos0_and_qos1_round_trip(clients: Callable[..., Client], protocol: MQTTProtocolVersion) -> None:
    sub = clients("duty-room", protocol)
    pub = clients("gw-dongcun-01", protocol)
    sub.connect()
    pub.connect()
    assert sub.subscribe("sw/v1/gw/gw-dongcun-01/events", 1) == [1]
    assert sub.subscribe("sw/v1/gw/gw-dongcun-01/status", 0) == [0]
    pub.publish("sw/v1/gw/gw-dongcun-01/events", b'[{"v":1}]', qos=1)
    pub.publish("sw/v1/gw/gw-dongcun-01/status", b'{"state":"online"}', qos=0)
    pub.publish("sw/v1/gw/gw-dongcun-01/status", b'{"state":"online"}', qos=1)
    assert [sub.get(), sub.get(), sub.get()] == [
        Got("sw/v1/gw/gw-dongcun-01/events", b'[{"v":1}]', 1),
        Got("sw/v1/gw/gw-dongcun-01/status", b'{"state":"online"}', 0),
        Got("sw/v1/gw/gw-dongcun-01/status", b'{"state":"online"}', 0),  # downgraded to the subscription
    ]


def test_v5_properties_reach_v5_subscribers_and_v311_gets_the_payload(
    clients: Callable[..., Client],
) -> None:
    v5_sub, v311_sub, pub = clients("a", V5), clients("b", V311), clients("c", V5)
    for client in (v5_sub, v311_sub, pub):
        client.connect()
    v5_sub.subscribe("t/#")
    v311_sub.subscribe("t/#")
    pub.publish(
        "t/1", b"x", ContentType="application/json", UserProperty=[("k", "v")], MessageExpiryInterval=60
    )
    msg = v5_sub.raw()
    assert (msg.topic, msg.payload, msg.properties.ContentType, msg.properties.UserProperty) == (
        "t/1",
        b"x",
        "application/json",
        [("k", "v")],
    )
    assert 0 < msg.properties.MessageExpiryInterval <= 60
    assert v311_sub.get() == Got("t/1", b"x", 1)


def test_qos2_is_completed_and_delivered_at_qos1(clients: Callable[..., Client]) -> None:
    sub, pub = clients("s"), clients("p")
    sub.connect()
    pub.connect()
    assert sub.subscribe("q2", 2) == [1]
    sub.subscribe("marker", 0)
    pub.publish("q2", b"once", qos=2)
    pub.publish("marker", b"", qos=0)
    assert sub.until("marker") == [Got("q2", b"once", 1)]


def test_wildcards_and_dollar_topics(clients: Callable[..., Client]) -> None:
    sub, pub = clients("s"), clients("p")
    sub.connect()
    pub.connect()
    sub.subscribe("sw/v1/gw/+/events")
    sub.subscribe("sw/v1/duty/c01/#")
    sub.subscribe("#", 0)
    topics = [
        "sw/v1/gw/gw-a/events",
        "sw/v1/gw/gw-a/status",
        "sw/v1/duty/c01",
        "sw/v1/duty/c01/t03/v12/alerts",
        "sw/v1/duty/c02/alerts",
        "$SYS/broker/uptime",
        "zz/end",
    ]
    for topic in topics:
        pub.publish(topic, b"x", qos=1)
    # "#" matches every topic but "$SYS/...": overlapping filters give one copy at the highest QoS.
    assert sub.until("zz/end") == [
        Got("sw/v1/gw/gw-a/events", b"x", 1),
        Got("sw/v1/gw/gw-a/status", b"x", 0),
        Got("sw/v1/duty/c01", b"x", 1),
        Got("sw/v1/duty/c01/t03/v12/alerts", b"x", 1),
        Got("sw/v1/duty/c02/alerts", b"x", 0),
    ]


def test_unsubscribe_stops_delivery(clients: Callable[..., Client]) -> None:
    sub, pub = clients("s"), clients("p")
    sub.connect()
    pub.connect()
    sub.subscribe("a/+")
    sub.subscribe("end", 0)
    pub.publish("a/1", b"1")
    sub.paho.unsubscribe("a/+")
    sub.unsubacks.get(timeout=WAIT)
    pub.publish("end", b"", qos=0)
    assert sub.until("end") == [Got("a/1", b"1", 1)]
    pub.publish("a/2", b"2")
    pub.publish("end", b"", qos=0)
    assert sub.until("end") == []


@pytest.mark.parametrize("protocol", [V5, V311], ids=["v5", "v3.1.1"])
def test_retained_set_replaced_cleared(
    clients: Callable[..., Client], protocol: MQTTProtocolVersion
) -> None:
    pub = clients("gw", protocol)
    pub.connect()
    live = clients("live", protocol)
    live.connect()
    live.subscribe("sw/v1/gw/+/status")
    pub.publish("sw/v1/gw/gw-a/status", b"offline", retain=True)
    pub.publish("sw/v1/gw/gw-a/status", b"online", retain=True)
    pub.publish("sw/v1/gw/gw-b/status", b"online", retain=True)
    # A live subscriber sees retain=0: the flag only marks messages sent because of a new subscription.
    assert [live.get(), live.get(), live.get()] == [
        Got("sw/v1/gw/gw-a/status", b"offline", 1),
        Got("sw/v1/gw/gw-a/status", b"online", 1),
        Got("sw/v1/gw/gw-b/status", b"online", 1),
    ]
    late = clients("late", protocol)
    late.connect()
    late.subscribe("sw/v1/gw/+/status")
    assert {late.get(), late.get()} == {
        Got("sw/v1/gw/gw-a/status", b"online", 1, True),
        Got("sw/v1/gw/gw-b/status", b"online", 1, True),
    }
    pub.publish("sw/v1/gw/gw-a/status", b"", retain=True)
    later = clients("later", protocol)
    later.connect()
    later.subscribe("sw/v1/gw/+/status")
    later.subscribe("end", 0)
    pub.publish("end", b"", qos=0)
    assert later.until("end") == [Got("sw/v1/gw/gw-b/status", b"online", 1, True)]


def test_will_on_abnormal_close_is_published_and_retained(
    embedded: EmbeddedBroker, clients: Callable[..., Client]
) -> None:
    watcher = clients("watcher")
    watcher.connect()
    watcher.subscribe("sw/v1/gw/+/status")
    gateway = clients("gw-a")
    gateway.paho.will_set("sw/v1/gw/gw-a/status", b'{"state":"offline"}', qos=1, retain=True)
    gateway.connect()
    gateway.publish("sw/v1/gw/gw-a/status", b'{"state":"online"}', retain=True)
    assert watcher.get() == Got("sw/v1/gw/gw-a/status", b'{"state":"online"}', 1)
    gateway.drop()
    assert watcher.get() == Got("sw/v1/gw/gw-a/status", b'{"state":"offline"}', 1)
    late = clients("late")
    late.connect()
    late.subscribe("sw/v1/gw/+/status")
    assert late.get() == Got("sw/v1/gw/gw-a/status", b'{"state":"offline"}', 1, True)
    assert embedded.stats()["wills_published"] == 1


def test_will_on_raw_socket_close_and_v311_will(
    embedded: EmbeddedBroker, clients: Callable[..., Client]
) -> None:
    watcher = clients("watcher", V311)
    watcher.connect()
    watcher.subscribe("w/#")
    sock = raw_session(embedded, "raw", will=("w/raw", b"gone"))
    sock.close()
    assert watcher.get() == Got("w/raw", b"gone", 1)
    old = clients("old", V311)
    old.paho.will_set("w/old", b"gone too", qos=0)
    old.connect()
    old.drop()
    assert watcher.get() == Got("w/old", b"gone too", 0)


def test_no_will_on_clean_disconnect_but_will_on_disconnect_with_will(
    embedded: EmbeddedBroker, clients: Callable[..., Client]
) -> None:
    watcher = clients("watcher")
    watcher.connect()
    watcher.subscribe("w/#")
    polite = clients("polite")
    polite.paho.will_set("w/polite", b"gone", qos=1)
    polite.connect()
    polite.disconnect()
    wait_until(lambda: embedded.stats()["clients_connected"] == 1)
    with_will = clients("with-will")
    with_will.paho.will_set("w/with-will", b"gone", qos=1)
    with_will.connect()
    with_will.paho.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
    with_will.paho.loop_stop()
    assert watcher.get() == Got("w/with-will", b"gone", 1)
    assert embedded.stats()["wills_published"] == 1


def test_shared_subscription_splits_messages_round_robin(clients: Callable[..., Client]) -> None:
    members = [clients("server-1"), clients("server-2")]
    for member in members:
        member.connect()
        assert member.subscribe("$share/shouwang/sw/v1/gw/+/events") == [1]
        member.subscribe("end", 0)
    audit = clients("audit")
    audit.connect()
    audit.subscribe("sw/v1/gw/+/events")
    pub = clients("gw")
    pub.connect()
    sent = [b"%d" % i for i in range(10)]
    for payload in sent:
        pub.publish("sw/v1/gw/gw-a/events", payload)
    pub.publish("end", b"", qos=0)
    shares = [[got.payload for got in member.until("end")] for member in members]
    assert sorted(shares[0] + shares[1]) == sorted(sent)
    assert [len(share) for share in shares] == [5, 5]
    assert [audit.get().payload for _ in sent] == sent


def test_shared_subscription_prefers_connected_members(clients: Callable[..., Client]) -> None:
    away = clients("server-away", clean=False, expiry=600)
    away.connect()
    away.subscribe("$share/g/ev")
    away.disconnect()
    online = clients("server-online")
    online.connect()
    online.subscribe("$share/g/ev")
    online.subscribe("end", 0)
    pub = clients("gw")
    pub.connect()
    for i in range(4):
        pub.publish("ev", b"%d" % i)
    pub.publish("end", b"", qos=0)
    assert [got.payload for got in online.until("end")] == [b"0", b"1", b"2", b"3"]


@pytest.mark.parametrize("protocol", [V5, V311], ids=["v5", "v3.1.1"])
def test_persistent_session_queues_qos1_while_away(
    embedded: EmbeddedBroker, clients: Callable[..., Client], protocol: MQTTProtocolVersion
) -> None:
    duty = clients("duty-c01", protocol, clean=False, expiry=600)
    assert duty.connect() is False
    duty.subscribe("sw/v1/duty/c01/#", 1)
    duty.subscribe("sw/v1/status", 0)
    duty.disconnect()
    wait_until(lambda: embedded.stats()["clients_connected"] == 0)
    pub = clients("server")
    pub.connect()
    for i in range(5):
        pub.publish("sw/v1/duty/c01/t03/alerts", b"alert %d" % i, qos=1)
    pub.publish("sw/v1/status", b"qos0 is not queued", qos=0)
    wait_until(lambda: embedded.stats()["queued"] == 5)
    back = clients("duty-c01", protocol, clean=False, expiry=600)
    assert back.connect() is True
    assert [back.get() for _ in range(5)] == [
        Got("sw/v1/duty/c01/t03/alerts", b"alert %d" % i, 1) for i in range(5)
    ]
    pub.publish("sw/v1/status", b"live", qos=0)
    assert back.get() == Got("sw/v1/status", b"live", 0)


def test_clean_start_discards_the_session(embedded: EmbeddedBroker, clients: Callable[..., Client]) -> None:
    duty = clients("duty", clean=False, expiry=600)
    duty.connect()
    duty.subscribe("a")
    duty.disconnect()
    pub = clients("p")
    pub.connect()
    pub.publish("a", b"while away")
    fresh = clients("duty", clean=True, expiry=600)
    assert fresh.connect() is False
    fresh.subscribe("end", 0)
    pub.publish("a", b"not subscribed any more")
    pub.publish("end", b"", qos=0)
    assert fresh.until("end") == []


def test_session_without_expiry_ends_at_disconnect(clients: Callable[..., Client]) -> None:
    duty = clients("duty", clean=False, expiry=0)
    duty.connect()
    duty.subscribe("a")
    duty.disconnect()
    again = clients("duty", clean=False, expiry=0)
    assert again.connect() is False


def test_unacked_qos1_is_resent_with_dup_on_reconnect(clients: Callable[..., Client]) -> None:
    slow = clients("server", clean=False, expiry=600, manual_ack=True)
    slow.connect()
    slow.subscribe("sw/v1/gw/+/events")
    pub = clients("gw")
    pub.connect()
    pub.publish("sw/v1/gw/gw-a/events", b"[1]")
    first = slow.raw()
    assert (first.payload, first.dup) == (b"[1]", False)
    slow.drop()  # crashed before its database commit, so before the PUBACK
    back = clients("server", clean=False, expiry=600, manual_ack=True)
    assert back.connect() is True
    again = back.raw()
    assert (again.topic, again.payload, again.qos, again.dup, again.mid) == (
        "sw/v1/gw/gw-a/events",
        b"[1]",
        1,
        True,
        first.mid,
    )
    back.paho.ack(again.mid, again.qos)
    back.disconnect()
    third = clients("server", clean=False, expiry=600, manual_ack=True)
    third.connect()
    third.subscribe("end", 0)
    pub.publish("end", b"", qos=0)
    assert third.until("end") == []


def test_queue_is_bounded_per_session() -> None:
    broker = EmbeddedBroker(HOST, 0, BrokerConfig(max_queued=3, max_inflight=2))
    with broker:
        away = Client(broker, "away", clean=False, expiry=600)
        away.connect()
        away.subscribe("a")
        away.disconnect()
        pub = Client(broker, "p")
        pub.connect()
        for i in range(6):
            pub.publish("a", b"%d" % i)
        stats = broker.stats()
        assert (stats["queued"], stats["dropped_queue_full"]) == (3, 3)
        back = Client(broker, "away", clean=False, expiry=600)
        back.connect()
        # Only two in flight at once: the third goes out after the client's first PUBACK.
        assert [back.get().payload for _ in range(3)] == [b"0", b"1", b"2"]
        back.subscribe("end", 0)
        pub.publish("end", b"", qos=0)
        assert back.until("end") == []
        for client in (pub, back):
            client.disconnect()


def test_takeover_closes_the_old_connection(embedded: EmbeddedBroker, clients: Callable[..., Client]) -> None:
    first = clients("gw-a", clean=False, expiry=600)
    first.paho.will_set("w/gw-a", b"gone", qos=1)
    first.connect()
    first.subscribe("cmd")
    first.paho.reconnect_delay_set(60, 60)
    watcher = clients("watcher")
    watcher.connect()
    watcher.subscribe("w/#")
    second = clients("gw-a", clean=False, expiry=600)
    assert second.connect() is True
    # The old connection did not say goodbye, so its will goes out.
    assert watcher.get() == Got("w/gw-a", b"gone", 1)
    first.paho.loop_stop()
    pub = clients("server")
    pub.connect()
    pub.publish("cmd", b"siren")
    assert second.get() == Got("cmd", b"siren", 1)


def test_malformed_bytes_close_only_that_client(
    embedded: EmbeddedBroker, clients: Callable[..., Client]
) -> None:
    sub, pub = clients("s"), clients("p")
    sub.connect()
    pub.connect()
    sub.subscribe("sw/#")
    attacks = [
        b"\x00\x00",  # reserved packet type before CONNECT
        b"\x30\x03\x00\x01a",  # PUBLISH before CONNECT
        b"\x10\xff\xff\xff\xff\x01",  # remaining length longer than 4 bytes
        b"\x10\x04\x00\x02MQ",  # truncated CONNECT
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        raw_connect("bad-1") + b"\x36\x05\x00\x01a\x00\x01",  # QoS 3
        raw_connect("bad-2") + b"\x30\x04\x00\x02\xc3\x28\x00",  # invalid UTF-8 topic
        raw_connect("bad-3") + b"\x30\x04\x00\x01+\x00",  # wildcard in a topic name
        raw_connect("bad-4") + frame(0x30, mqtt_str("sw/x") + b"\x00" + b"x" * (2 << 20)),  # too large
        raw_connect("bad-5") + raw_connect("bad-5"),  # second CONNECT
    ]
    for attack in attacks:
        with socket.create_connection((HOST, embedded.port), timeout=WAIT) as sock:
            try:
                sock.sendall(attack)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the broker may already have closed it, before reading everything
            packets_until_closed(sock)  # returns only because the broker closed the connection
    stats = embedded.stats()
    assert (
        stats["malformed_packets"],
        stats["protocol_errors"],
        stats["oversized_packets"],
        stats["internal_errors"],
    ) == (4, 4, 1, 0)
    pub.publish("sw/ok", b"still here")
    assert sub.get() == Got("sw/ok", b"still here", 1)


def test_random_bytes_after_connect_never_hurt_the_broker(
    embedded: EmbeddedBroker, clients: Callable[..., Client]
) -> None:
    sub, pub = clients("s"), clients("p")
    sub.connect()
    pub.connect()
    sub.subscribe("sw/#")
    rng = random.Random(20261123)
    for i in range(150):
        with raw_session(embedded, "fuzz-%d" % i) as sock:
            try:
                sock.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            packets_until_closed(sock)
    assert embedded.stats()["internal_errors"] == 0
    pub.publish("sw/ok", b"still here")
    assert sub.until("sw/ok") == []  # nothing random reached it before (garbage rarely names "sw/")


def test_v5_client_is_told_why_it_is_closed(embedded: EmbeddedBroker) -> None:
    with raw_session(embedded, "bad") as sock:
        sock.sendall(b"\x36\x05\x00\x01a\x00\x01")
        assert packets_until_closed(sock) == [(0xE0, bytes.fromhex("81 00"))]  # DISCONNECT, malformed
    with socket.create_connection((HOST, embedded.port), timeout=WAIT) as sock:
        sock.sendall(frame(0x10, mqtt_str("MQTT") + bytes([3, 2, 0, 30]) + mqtt_str("old")))
        assert packets_until_closed(sock) == [(0x20, b"\x00\x01")]  # unacceptable protocol version


def test_keepalive_timeout_closes_and_publishes_the_will(
    embedded: EmbeddedBroker, clients: Callable[..., Client]
) -> None:
    watcher = clients("watcher")
    watcher.connect()
    watcher.subscribe("w/#")
    with raw_session(embedded, "silent", keepalive=1, will=("w/silent", b"gone")) as sock:
        assert packets_until_closed(sock) == [(0xE0, bytes.fromhex("8d 00"))]  # keep alive timeout
    assert watcher.get() == Got("w/silent", b"gone", 1)
    assert embedded.stats()["keepalive_timeouts"] == 1


def test_ping_assigned_client_id_and_invalid_filter(embedded: EmbeddedBroker) -> None:
    with socket.create_connection((HOST, embedded.port), timeout=WAIT) as sock:
        sock.sendall(frame(0x10, mqtt_str("MQTT") + bytes([5, 2, 0, 30, 0]) + mqtt_str("")))
        first, body = read_packet(sock) or (0, b"")
        assert (first, body[:2]) == (0x20, b"\x00\x00")
        assert b"\x12\x00\x25auto-" in body  # assigned client identifier property
        sock.sendall(b"\xc0\x00")
        assert read_packet(sock) == (0xD0, b"")
        sock.sendall(frame(0x82, b"\x00\x07\x00" + mqtt_str("a/#/b") + b"\x01" + mqtt_str("ok") + b"\x01"))
        assert read_packet(sock) == (0x90, bytes.fromhex("0007 00 8f 01"))
        sock.sendall(b"\xe0\x00")
        assert packets_until_closed(sock) == []


def test_restart_reuses_the_port_and_starts_empty(embedded: EmbeddedBroker) -> None:
    port = embedded.port
    assert embedded.url == "mqtt://127.0.0.1:%d" % port
    embedded.stop()
    assert embedded.stats() == {}
    embedded.start()
    assert embedded.port == port
    assert embedded.stats()["sessions"] == 0


def test_start_fails_clearly_when_the_port_is_taken(embedded: EmbeddedBroker) -> None:
    other = EmbeddedBroker(HOST, embedded.port)
    with pytest.raises(BrokerError, match="cannot listen"):
        other.start()
    assert not other.running


def test_serve_runs_inside_an_existing_event_loop() -> None:
    received: queue.Queue[bytes] = queue.Queue()

    async def scenario() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve(HOST, 0, ready=ready.set_result))
        port = await ready
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(raw_connect("in-loop") + frame(0x82, b"\x00\x01\x00" + mqtt_str("x") + b"\x00"))
        writer.write(frame(0x30, mqtt_str("x") + b"\x00" + b"hello"))
        await writer.drain()
        for _ in range(3):  # CONNACK, SUBACK, PUBLISH
            first = await reader.readexactly(2)
            received.put(bytes(first) + await reader.readexactly(first[1]))
        writer.close()
        await writer.wait_closed()
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server

    thread = threading.Thread(target=asyncio.run, args=(scenario(),))
    thread.start()
    thread.join()
    assert [received.get_nowait() for _ in range(3)][1:] == [
        bytes.fromhex("90 04 0001 00 00"),
        frame(0x30, mqtt_str("x") + b"\x00" + b"hello"),
    ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_session_expiry_interval_is_honoured() -> None:
    clock = FakeClock()
    with EmbeddedBroker(HOST, 0, clock=clock) as broker:
        made = []
        for elapsed, present in ((0, False), (59, True), (61, False)):
            clock.now += elapsed
            duty = Client(broker, "duty", clean=False, expiry=60)
            made.append(duty)
            assert duty.connect() is present
            duty.subscribe("a")
            duty.disconnect()
            wait_until(lambda: broker.stats()["clients_connected"] == 0)
        assert broker.stats()["sessions_expired"] == 1


def test_will_delay_is_cancelled_by_a_reconnect_and_sent_once_it_runs_out() -> None:
    clock = FakeClock()
    with EmbeddedBroker(HOST, 0, clock=clock) as broker:
        watcher, pub = Client(broker, "watcher"), Client(broker, "pub")
        watcher.connect()
        pub.connect()
        watcher.subscribe("w/#")
        watcher.subscribe("end", 0)
        gateways = []
        for _ in range(3):
            gateway = Client(broker, "gw", clean=False, expiry=600)
            props = Properties(PacketTypes.WILLMESSAGE)
            props.WillDelayInterval = 30
            gateway.paho.will_set("w/gw", b"gone", qos=1, properties=props)
            gateways.append(gateway)
        gateways[0].connect()
        gateways[0].drop()
        wait_until(lambda: broker.stats()["clients_connected"] == 2)
        assert gateways[1].connect() is True  # back within 30 s: no will
        gateways[1].drop()
        wait_until(lambda: broker.stats()["clients_connected"] == 2)
        pub.publish("end", b"", qos=0)
        assert watcher.until("end") == []
        clock.now += 31
        gateways[2].connect()
        assert watcher.get() == Got("w/gw", b"gone", 1)
        for client in (watcher, pub, gateways[2]):
            client.disconnect()


def test_queued_messages_past_their_expiry_are_not_delivered() -> None:
    clock = FakeClock()
    with EmbeddedBroker(HOST, 0, clock=clock) as broker:
        away = Client(broker, "duty", clean=False, expiry=600)
        away.connect()
        away.subscribe("alerts")
        away.disconnect()
        pub = Client(broker, "server")
        pub.connect()
        pub.publish("alerts", b"short-lived", MessageExpiryInterval=10)
        pub.publish("alerts", b"lasting")
        pub.publish("alerts", b"long-lived", MessageExpiryInterval=100)
        clock.now += 11
        back = Client(broker, "duty", clean=False, expiry=600)
        back.connect()
        first, second = back.raw(), back.raw()
        assert (first.payload, second.payload) == (b"lasting", b"long-lived")
        assert second.properties is not None
        assert second.properties.MessageExpiryInterval == 89
        for client in (pub, back):
            client.disconnect()


def test_v5_subscription_options(clients: Callable[..., Client]) -> None:
    me, pub = clients("me"), clients("pub")
    me.connect()
    pub.connect()
    pub.publish("r/kept", b"old", retain=True)
    me.paho.subscribe("r/#", options=SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True))
    me.subacks.get(timeout=WAIT)
    assert me.get() == Got("r/kept", b"old", 1, True)
    me.publish("r/mine", b"not echoed")
    pub.publish("r/theirs", b"flag kept", retain=True)
    assert me.get() == Got("r/theirs", b"flag kept", 1, True)
    # Retain Handling 1: retained messages only for a subscription that did not exist yet.
    me.paho.subscribe("r/#", options=SubscribeOptions(qos=1, retainHandling=1))
    me.subacks.get(timeout=WAIT)
    me.paho.subscribe("r/theirs", options=SubscribeOptions(qos=1, retainHandling=2))
    me.subacks.get(timeout=WAIT)
    pub.publish("r/end", b"", qos=0)
    assert me.until("r/end") == []
