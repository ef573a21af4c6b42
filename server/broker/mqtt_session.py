"""What the embedded broker remembers (in memory only): messages, subscriptions, sessions, connections."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from server.broker.mqtt_codec import PROTOCOL_V5, Properties, Will
from server.broker.mqtt_topics import TopicFilter

# MQTT v5 "the session does not expire"; also what a 3.1.1 clean_session=0 client gets.
NEVER_EXPIRES = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Message:
    """One application message as received; `properties` are those forwarded to v5 subscribers."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties
    origin: str
    expires_at: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message on its way to one session, at the QoS and retain flag that session gets."""

    message: Message
    qos: int
    retain: bool
    subscription_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Subscription:
    topic_filter: TopicFilter
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    subscription_id: int | None = None


@dataclass(eq=False)
class Session:
    """State that outlives a connection when the client asked for a session expiry interval."""

    client_id: str
    expiry: int = 0
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    # QoS 1 deliveries waiting for a free in-flight slot or for the client to come back.
    queue: deque[Delivery] = field(default_factory=deque)
    # QoS 1 deliveries sent and not yet acknowledged, by packet identifier, in send order.
    inflight: dict[int, Delivery] = field(default_factory=dict)
    # Incoming QoS 2 packet identifiers between PUBREC and PUBREL, so a resent PUBLISH is not routed twice.
    awaiting_release: set[int] = field(default_factory=set)
    conn: Connection | None = None
    # Deadlines by the broker's clock while no client is attached; the timers below enforce them.
    expires_at: float | None = None
    will_due: float | None = None
    expiry_timer: asyncio.TimerHandle | None = None
    pending_will: Will | None = None
    will_timer: asyncio.TimerHandle | None = None
    dropped: int = 0
    _last_packet_id: int = 0

    def next_packet_id(self) -> int:
        for _ in range(65535):
            self._last_packet_id = self._last_packet_id % 65535 + 1
            if self._last_packet_id not in self.inflight:
                return self._last_packet_id
        raise RuntimeError("all 65535 packet identifiers are in flight")

    def cancel_timers(self) -> None:
        for timer in (self.expiry_timer, self.will_timer):
            if timer is not None:
                timer.cancel()
        self.expiry_timer = None
        self.will_timer = None
        self.expires_at = None
        self.will_due = None


class Connection:
    """One client's socket and what its CONNECT asked for."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = "%s:%s" % (peer[0], peer[1]) if isinstance(peer, tuple) else str(peer)
        self.level = PROTOCOL_V5
        self.connected = False
        self.detached = False
        self.session: Session | None = None
        self.will: Will | None = None
        self.keepalive = 0
        self.receive_maximum = 65535
        self.max_packet_size = 0

    @property
    def name(self) -> str:
        return self.session.client_id if self.session is not None else "(no CONNECT yet)"

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def buffered(self) -> int:
        return self.writer.transport.get_write_buffer_size()
