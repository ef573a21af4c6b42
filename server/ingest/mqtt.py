"""The MQTT link: paho callbacks become queue items here and nowhere else."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from protocol.topics import SHARE_GROUP, Topics
from server.errors import ServerError

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None: ...


@dataclass(frozen=True)
class Listener:
    """Another reader on the server's one connection (the broker binds client ids to accounts,
    so an instance has exactly one): subscribed at QoS 0, so nothing is queued for it in the
    kept session while the server is away. ``on_state`` hears of subscribed / disconnected."""

    topic_filter: str
    on_message: Callable[[bytes], None]
    on_state: Callable[[bool], None]


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    received: float  # time.monotonic() at reception, for the ingest latency figure


class MqttError(ServerError):
    reason = "mqtt"


class MqttLink:
    """One paho client (MQTT v5, persistent session) feeding ``inbox``.

    paho's own thread reconnects with backoff; on every (re)connect we subscribe again, which
    is harmless when the broker kept the session and necessary when it did not.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        topics: Topics,
        inbox: queue.Queue[Inbound | None],
        session_expiry: int = 7 * 24 * 3600,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.topics = topics
        self.inbox = inbox
        self.session_expiry = session_expiry
        self.connected = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if login is not None:
            self._client.username_pw_set(*login)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._sub_mid: int | None = None
        self._client.on_message = self._on_message
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Add a reader before ``start``; its messages never reach the ingest queue."""
        self._listeners.append(listener)
        self._client.message_callback_add(
            listener.topic_filter, lambda c, u, msg: listener.on_message(bytes(msg.payload))
        )

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry
        # connect_async: the server starts (and serves REST) even while the broker is down.
        self._client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        # QoS 1 messages published while disconnected stay in paho's queue until reconnect.
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise MqttError("publish to %s failed: %s" % (topic, mqtt.error_string(info.rc)))

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connect to %s:%d refused: %s", self.host, self.port, reason)
            return
        log.info("MQTT connected to %s:%d (session present: %s)", self.host, self.port, flags.session_present)
        _no_delay(client)
        opts = SubscribeOptions(qos=1)
        _, self._sub_mid = client.subscribe(
            [
                (self.topics.all_gateways("events", shared=True), opts),
                # Status is retained, and shared subscriptions get no retained messages,
                # so every instance reads it; updating it is idempotent.
                (self.topics.all_gateways("status"), opts),
                (self.topics.all_gateways("cmd/result", shared=True), opts),
                *((lst.topic_filter, SubscribeOptions(qos=0)) for lst in self._listeners),
            ]
        )
        if self.topics.share_group != SHARE_GROUP:
            # A session kept from before the group was derived from the secret still holds the
            # old one; in both groups every event would arrive twice.
            legacy = Topics(self.topics.prefix)
            client.unsubscribe([legacy.all_gateways(c, shared=True) for c in ("events", "cmd/result")])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        # Ready means subscribed: a message published before the broker has our subscription
        # (and no session of ours to queue it) would never reach us.
        if mid == self._sub_mid:
            failed = [r for r in reasons if r.is_failure]
            if failed:
                log.error("MQTT subscription refused: %s", failed)
                return
            self.connected.set()
            for lst in self._listeners:
                lst.on_state(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        for lst in self._listeners:
            lst.on_state(False)
        log.warning("MQTT disconnected from %s:%d: %s", self.host, self.port, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Inbound(msg.topic, bytes(msg.payload), time.monotonic()))


def _no_delay(client: mqtt.Client) -> None:
    """Turn off Nagle's algorithm: paho leaves it on, and an ack published right after a
    PUBACK would otherwise wait for the broker's delayed TCP ACK (40 ms on Linux)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
