"""One paho v5 client; its callbacks only put typed items on the owner's inbox."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqttlink.errors import PublishError
from mqttlink.events import Connected, Disconnected, LinkEvent, Received, Subscribed
from mqttlink.url import BrokerUrl

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30


class Inbox(Protocol):
    def put(self, item: LinkEvent, /) -> None: ...


class CleanStart(Enum):
    NEVER = "never"  # always resume the broker's session (a gateway: acks queue while it is away)
    FIRST_CONNECT = "first"  # a new process starts clean; reconnects after a blip resume
    ALWAYS = "always"


_CLEAN_START: dict[CleanStart, Any] = {
    CleanStart.NEVER: False,
    CleanStart.FIRST_CONNECT: mqtt.MQTT_CLEAN_START_FIRST_ONLY,
    CleanStart.ALWAYS: True,
}


@dataclass(frozen=True, slots=True)
class Session:
    """How the broker treats this client's session (MQTT v5)."""

    expiry_s: int  # how long the broker keeps the session (and queues for it) after a disconnect
    clean_start: CleanStart = CleanStart.NEVER
    keepalive_s: int = 30


@dataclass(frozen=True, slots=True)
class Subscription:
    topic: str
    qos: int = 1


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class Link:
    """paho's own thread connects, reconnects with backoff and calls back here; every callback
    becomes one item on ``inbox``. Subscriptions are renewed on every (re)connect, which is
    harmless when the broker kept the session and necessary when it did not. ``ready`` is set
    once the broker granted them, because a message published before that would be lost."""

    def __init__(
        self,
        url: BrokerUrl,
        client_id: str,
        inbox: Inbox,
        *,
        session: Session,
        subscriptions: Sequence[Subscription] = (),
        will: Will | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self.inbox = inbox
        self.session = session
        self.subscriptions = tuple(subscriptions)
        self.clock = clock
        self.ready = threading.Event()
        self._sub_mid: int | None = None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        if url.login is not None:
            client.username_pw_set(url.username, url.password or None)
        if url.tls:
            client.tls_set(ca_certs=url.ca_file or None)
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    # --- lifecycle ----------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> None:
        """Before ``start``: one more subscription, renewed with the others on every connect."""
        self.subscriptions += (subscription,)

    def start(self) -> None:
        """Connect in the background: the owner runs (and serves) while the broker is down."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session.expiry_s
        self._client.connect_async(self.url.host, self.url.port, keepalive=self.session.keepalive_s,
                                   clean_start=_CLEAN_START[self.session.clean_start], properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self.ready.clear()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                retain: bool = False) -> mqtt.MQTTMessageInfo:
        """QoS 1 messages published while disconnected wait in paho's queue for the reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise PublishError("publish to %s failed: %s" % (topic, mqtt.error_string(info.rc)))
        return info

    # --- paho callbacks: enqueue only ---------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connect to %s refused: %s", self.url, reason)
            return
        log.info("MQTT connected to %s as %s (session present: %s)", self.url, self.client_id,
                 flags.session_present)
        _no_delay(client)
        self.inbox.put(Connected(bool(flags.session_present)))
        if not self.subscriptions:
            self.ready.set()
            self.inbox.put(Subscribed())
            return
        wanted = [(s.topic, SubscribeOptions(qos=s.qos)) for s in self.subscriptions]
        _, self._sub_mid = client.subscribe(wanted)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # No TCP connection, or the TLS handshake failed (an unknown CA, a wrong host name).
        log.warning("MQTT connection to %s failed; retrying with backoff", self.url)
        self.inbox.put(Disconnected("connection failed"))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if mid != self._sub_mid:
            return
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("MQTT subscription refused by %s: %s", self.url, failed)
            return
        self.ready.set()
        self.inbox.put(Subscribed())

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.ready.clear()
        self.inbox.put(Disconnected(str(reason)))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Received(msg.topic, bytes(msg.payload), self.clock()))


def _no_delay(client: mqtt.Client) -> None:
    """Turn off Nagle's algorithm: paho leaves it on, and a message published right after a
    PUBACK would otherwise wait for the broker's delayed TCP ACK (40 ms on Linux)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
