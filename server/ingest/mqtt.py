"""The server's MQTT link: the shared ``mqttlink.Link`` with the server's subscriptions and session.

Messages go to the ingest worker's inbox as ``Inbound`` items, except those of a ``Listener``
(another reader on the same connection, such as the consoles' live feed); connection changes
are logged and told to the listeners (``connected`` tells the health check whether the alarm
path is up).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from paho.mqtt.client import MQTTMessageInfo, topic_matches_sub

from mqttlink import (
    BrokerUrl,
    CleanStart,
    Disconnected,
    Link,
    LinkError,
    LinkEvent,
    Received,
    Session,
    Subscribed,
    Subscription,
)
from protocol.topics import Topics
from server.errors import ServerError

log = logging.getLogger(__name__)

# A message as the worker reads it: topic, payload and the monotonic time of reception.
Inbound = Received


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> object: ...


@dataclass(frozen=True)
class Listener:
    """Another reader on the server's one connection (the broker binds client ids to accounts,
    so an instance has exactly one): subscribed at QoS 0, so nothing is queued for it in the
    session while the server is away. ``on_state`` hears of subscribed / disconnected."""

    topic_filter: str
    on_message: Callable[[bytes], None]
    on_state: Callable[[bool], None]


class MqttError(ServerError):
    reason = "mqtt"


class _Router:
    """On paho's thread: a listener's messages to the listener, every other message to the
    worker's inbox; connection changes to the log and the listeners."""

    def __init__(self, inbox: queue.Queue[Inbound | None], url: BrokerUrl) -> None:
        self.inbox = inbox
        self.url = url
        self.listeners: list[Listener] = []

    def put(self, item: LinkEvent, /) -> None:
        if isinstance(item, Received):
            for lst in self.listeners:
                if topic_matches_sub(lst.topic_filter, item.topic):
                    lst.on_message(item.payload)
                    return
            self.inbox.put(item)
        elif isinstance(item, Subscribed):
            for lst in self.listeners:
                lst.on_state(True)
        elif isinstance(item, Disconnected):
            for lst in self.listeners:
                lst.on_state(False)
            log.warning("MQTT disconnected from %s: %s", self.url, item.reason)


def server_subscriptions(topics: Topics) -> list[Subscription]:
    return [
        Subscription(topics.all_gateways("events", shared=True)),
        # Status is retained, and shared subscriptions get no retained messages, so every
        # instance reads it; updating it is idempotent.
        Subscription(topics.all_gateways("status")),
        Subscription(topics.all_gateways("cmd/result", shared=True)),
        Subscription(topics.all_gateways("actions", shared=True)),  # the stations' kiosks
    ]


class MqttLink:
    """One server instance's link. The application ack makes delivery safe without a long
    broker session (whatever the broker queued for an instance that went away is resent by its
    gateway), so each start begins a clean session, a reconnect after a blip resumes it, and the
    broker drops it, with its place in the shared subscription, ``session_expiry`` seconds after
    the instance leaves. The clean start also drops a group that a session kept from an older
    version still holds (``$share/shouwang/...``, from before the group was derived from the
    secret), which would otherwise deliver every event twice."""

    def __init__(
        self,
        url: str | BrokerUrl,
        client_id: str,
        topics: Topics,
        inbox: queue.Queue[Inbound | None],
        session_expiry: int,
        login: tuple[str, str] | None = None,
    ) -> None:
        try:
            self.url = url if isinstance(url, BrokerUrl) else BrokerUrl.parse(url)
        except LinkError as exc:
            raise MqttError("MQTT URL %s" % exc) from None
        if login is not None:
            self.url = self.url.with_login(*login)
        self.topics = topics
        self.inbox = inbox
        self._router = _Router(inbox, self.url)
        self._link = Link(
            self.url,
            client_id,
            self._router,
            session=Session(session_expiry, CleanStart.FIRST_CONNECT, keepalive_s=30),
            subscriptions=server_subscriptions(topics),
        )

    def listen(self, listener: Listener) -> None:
        """Add a reader before ``start``; its messages never reach the ingest queue."""
        self._router.listeners.append(listener)
        self._link.add_subscription(Subscription(listener.topic_filter, qos=0))

    @property
    def connected(self) -> threading.Event:
        return self._link.ready

    def start(self) -> None:
        self._link.start()

    def stop(self) -> None:
        self._link.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self._link.ready.wait(timeout)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> MQTTMessageInfo:
        """The message's handle: ``wait_for_publish`` / ``is_published`` tell of its PUBACK."""
        try:
            return self._link.publish(topic, payload, qos=1, retain=retain)
        except LinkError as exc:
            raise MqttError(str(exc)) from None
