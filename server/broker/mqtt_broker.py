"""An asyncio MQTT 3.1.1 / 5.0 broker for the demo and small single-station installs.

State lives in memory only: a broker restart loses retained messages, sessions and queues. That is
safe for Shouwang because of the delivery rule (DESIGN.md section 3): the gateway keeps every event
until the server's application-level ack, and resends on reconnect.

QoS 2 is accepted from publishers (PUBREC/PUBREL/PUBCOMP, no duplicate routing) but delivered to
subscribers at QoS 1 at most; SUBACK grants at most QoS 1 accordingly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from server.broker.mosquitto import BrokerError
from server.broker.mqtt_codec import (
    PROTOCOL_V5,
    Ack,
    Connect,
    Disconnect,
    MalformedPacket,
    MqttError,
    MqttProtocolError,
    Packet,
    PacketTooLarge,
    PacketType,
    PingReq,
    Prop,
    Properties,
    Publish,
    Reason,
    Subscribe,
    Unsubscribe,
    Will,
    decode_packet,
    encode_ack,
    encode_connack,
    encode_disconnect,
    encode_pingresp,
    encode_publish,
    encode_suback,
    encode_unsuback,
    prop,
    prop_int,
    valid_topic_name,
)
from server.broker.mqtt_session import (
    NEVER_EXPIRES,
    Connection,
    Delivery,
    Message,
    Session,
    Subscription,
)
from server.broker.mqtt_topics import matches, parse_filter

log = logging.getLogger(__name__)

# Properties that describe one hop rather than the message, so they are never forwarded as received.
_HOP_PROPERTIES = frozenset(
    {Prop.TOPIC_ALIAS, Prop.SUBSCRIPTION_IDENTIFIER, Prop.MESSAGE_EXPIRY_INTERVAL, Prop.WILL_DELAY_INTERVAL}
)
_V311_CONNACK = {
    Reason.UNSUPPORTED_PROTOCOL_VERSION: 0x01,
    Reason.CLIENT_IDENTIFIER_NOT_VALID: 0x02,
    Reason.BAD_AUTHENTICATION_METHOD: 0x05,
}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class BrokerConfig:
    max_packet_size: int = 1 << 20
    # QoS 1 messages kept per session while its client is away or slow; beyond that new ones are dropped.
    max_queued: int = 100_000
    # QoS 1 messages sent to one client and not yet acknowledged (also capped by its Receive Maximum).
    max_inflight: int = 100
    connect_timeout: float = 10.0
    # QoS 0 messages are dropped for a client whose socket buffer already holds this much.
    write_buffer_limit: int = 8 << 20


@dataclass
class BrokerStats:
    connections: int = 0
    malformed_packets: int = 0
    protocol_errors: int = 0
    oversized_packets: int = 0
    keepalive_timeouts: int = 0
    internal_errors: int = 0
    messages_received: int = 0
    messages_sent: int = 0
    dropped_queue_full: int = 0
    dropped_slow_client: int = 0
    dropped_too_large_for_client: int = 0
    wills_published: int = 0
    sessions_expired: int = 0


class ConnectRefused(BrokerError):
    """CONNACK with a failure code has been sent; the connection only needs closing."""


class MqttBroker:
    """The broker itself, for use inside a running event loop: `await start(host, port)`, `await close()`."""

    def __init__(
        self, config: BrokerConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or BrokerConfig()
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._sessions: dict[str, Session] = {}
        self._retained: dict[str, Message] = {}
        self._round_robin: dict[tuple[str, str], int] = {}
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.stats = BrokerStats()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 1883) -> int:
        """Listen on host:port (0 picks a free port) and return the port actually bound."""
        if host not in _LOOPBACK:
            log.warning("embedded MQTT broker listens on %s: it has no authentication", host)
        try:
            self._server = await asyncio.start_server(self._handle, host, port)
        except OSError as exc:
            raise BrokerError("cannot listen on %s:%d: %s" % (host, port, exc)) from exc
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("embedded MQTT broker listening on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            if conn.connected and conn.level >= PROTOCOL_V5:
                conn.send(encode_disconnect(Reason.SERVER_SHUTTING_DOWN))
            conn.writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for session in self._sessions.values():
            session.cancel_timers()
        log.info("embedded MQTT broker stopped")

    def snapshot(self) -> dict[str, int]:
        """Counters plus current sizes, for logs and /metrics."""
        figures = asdict(self.stats)
        figures["clients_connected"] = sum(1 for c in self._connections if c.connected)
        figures["sessions"] = len(self._sessions)
        figures["retained"] = len(self._retained)
        figures["queued"] = sum(len(s.queue) for s in self._sessions.values())
        return figures

    # --- one connection -----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = Connection(reader, writer)
        self._connections.add(conn)
        self.stats.connections += 1
        try:
            await self._serve(conn)
        except ConnectRefused as exc:
            log.info("refused connection from %s: %s", conn.peer, exc)
        except MqttError as exc:
            self._count_error(exc)
            log.warning("closing client %s (%s): %s", conn.name, conn.peer, exc)
            if not conn.connected and exc.reason == Reason.UNSUPPORTED_PROTOCOL_VERSION:
                conn.send(encode_connack(4, False, 0x01))
            elif conn.connected and conn.level >= PROTOCOL_V5:
                conn.send(encode_disconnect(exc.reason))
        except TimeoutError:
            if conn.connected:
                self.stats.keepalive_timeouts += 1
                log.warning("client %s (%s) silent beyond its keepalive; closing it", conn.name, conn.peer)
                if conn.level >= PROTOCOL_V5:
                    conn.send(encode_disconnect(Reason.KEEP_ALIVE_TIMEOUT))
            else:
                log.info("no CONNECT from %s in %.0f s; closing", conn.peer, self.config.connect_timeout)
        except (asyncio.IncompleteReadError, OSError) as exc:
            log.info("client %s (%s) connection lost: %s", conn.name, conn.peer, type(exc).__name__)
        except asyncio.CancelledError:
            pass
        except Exception:
            self.stats.internal_errors += 1
            log.exception("internal error with client %s (%s); closing that client", conn.name, conn.peer)
        finally:
            self._connections.discard(conn)
            try:
                self._connection_lost(conn)
            except Exception:
                self.stats.internal_errors += 1
                log.exception("internal error after client %s (%s) left", conn.name, conn.peer)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    def _count_error(self, exc: MqttError) -> None:
        if isinstance(exc, MalformedPacket):
            self.stats.malformed_packets += 1
        elif isinstance(exc, PacketTooLarge):
            self.stats.oversized_packets += 1
        else:
            self.stats.protocol_errors += 1

    async def _read_packet(self, conn: Connection) -> tuple[int, bytes]:
        first = (await conn.reader.readexactly(1))[0]
        length = 0
        for i, shift in enumerate((0, 7, 14, 21)):
            byte = (await conn.reader.readexactly(1))[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                header = i + 2
                break
        else:
            raise MalformedPacket("remaining length longer than 4 bytes")
        if header + length > self.config.max_packet_size:
            raise PacketTooLarge(
                "packet of %d bytes exceeds the limit of %d" % (header + length, self.config.max_packet_size)
            )
        return first, await conn.reader.readexactly(length)

    async def _serve(self, conn: Connection) -> None:
        async with asyncio.timeout(self.config.connect_timeout):
            first, body = await self._read_packet(conn)
        if first >> 4 != PacketType.CONNECT:
            raise MqttProtocolError("first packet is not CONNECT")
        connect = decode_packet(first, body, PROTOCOL_V5)
        assert isinstance(connect, Connect)
        self._on_connect(conn, connect)
        await conn.writer.drain()
        while True:
            limit = conn.keepalive * 1.5 if conn.keepalive else None
            async with asyncio.timeout(limit):
                first, body = await self._read_packet(conn)
                if not self._dispatch(conn, decode_packet(first, body, conn.level)):
                    return
                await conn.writer.drain()

    def _refuse(self, conn: Connection, reason: Reason, why: str) -> ConnectRefused:
        if conn.level >= PROTOCOL_V5:
            conn.send(encode_connack(conn.level, False, reason))
        else:
            conn.send(encode_connack(conn.level, False, _V311_CONNACK.get(reason, 0x05)))
        return ConnectRefused(why)

    def _on_connect(self, conn: Connection, c: Connect) -> None:
        conn.level = c.level
        v5 = c.level >= PROTOCOL_V5
        if v5 and prop(c.properties, Prop.AUTHENTICATION_METHOD) is not None:
            raise self._refuse(conn, Reason.BAD_AUTHENTICATION_METHOD, "enhanced authentication requested")
        client_id, assigned = c.client_id, False
        if not client_id:
            if not v5 and not c.clean_start:
                raise self._refuse(
                    conn, Reason.CLIENT_IDENTIFIER_NOT_VALID, "empty client id with clean_session=0"
                )
            client_id, assigned = "auto-%s" % uuid.uuid4().hex, True
        if v5:
            expiry = prop_int(c.properties, Prop.SESSION_EXPIRY_INTERVAL, 0)
            conn.receive_maximum = prop_int(c.properties, Prop.RECEIVE_MAXIMUM, 65535)
            conn.max_packet_size = prop_int(c.properties, Prop.MAXIMUM_PACKET_SIZE, 0)
            if conn.receive_maximum == 0 or prop(c.properties, Prop.MAXIMUM_PACKET_SIZE) == 0:
                raise MqttProtocolError("Receive Maximum or Maximum Packet Size of 0")
        else:
            expiry = 0 if c.clean_start else NEVER_EXPIRES
        conn.keepalive = c.keepalive
        conn.will = c.will

        existing = self._sessions.get(client_id)
        if existing is not None and existing.conn is not None:
            self._take_over(existing.conn, resumed=not c.clean_start)
        elif existing is not None:
            existing = self._catch_up(existing)
        if existing is not None and c.clean_start:
            self._end_session(existing)
            existing = None
        session = existing or Session(client_id)
        self._sessions[client_id] = session
        session.cancel_timers()
        # A client back before its will delay ran out: the will is not sent (MQTT 5 section 3.1.3.2.2).
        session.pending_will = None
        session.expiry = expiry
        session.conn = conn
        conn.session = session
        conn.connected = True

        props: list[tuple[int, int | str]] = []
        if v5:
            if assigned:
                props.append((Prop.ASSIGNED_CLIENT_IDENTIFIER, client_id))
            props.append((Prop.MAXIMUM_PACKET_SIZE, self.config.max_packet_size))
        conn.send(encode_connack(c.level, existing is not None, Reason.SUCCESS, tuple(props)))
        log.info(
            "client %s connected from %s (MQTT %s, keepalive %d s, session %s, expiry %s)",
            client_id,
            conn.peer,
            "5" if v5 else "3.1.1",
            c.keepalive,
            "resumed" if existing is not None else "new",
            expiry,
        )
        for packet_id, delivery in list(session.inflight.items()):
            data = self._encode(conn, delivery, packet_id, dup=True)
            if data is not None:
                conn.send(data)
        self._pump(session)

    def _take_over(self, old: Connection, resumed: bool) -> None:
        log.info("client %s (%s) taken over by a new connection", old.name, old.peer)
        if old.level >= PROTOCOL_V5:
            old.send(encode_disconnect(Reason.SESSION_TAKEN_OVER))
        if resumed and old.will is not None and prop_int(old.will.properties, Prop.WILL_DELAY_INTERVAL, 0):
            old.will = None
        will, old.will = old.will, None
        self._detach(old, keep_session=True)
        old.writer.close()
        if will is not None and old.session is not None:
            self._publish_will(old.session.client_id, will)

    # --- teardown -----------------------------------------------------------------------------

    def _connection_lost(self, conn: Connection) -> None:
        if conn.detached or self._closing:
            conn.detached = True
            return
        session = self._detach(conn, keep_session=False)
        if session is None or conn.will is None:
            return
        delay = prop_int(conn.will.properties, Prop.WILL_DELAY_INTERVAL, 0)
        if delay and session.expiry and session.client_id in self._sessions:
            session.pending_will = conn.will
            session.will_due = self._clock() + min(delay, session.expiry)
            session.will_timer = asyncio.get_running_loop().call_later(
                min(delay, session.expiry), self._delayed_will, session
            )
        else:
            self._publish_will(session.client_id, conn.will)

    def _detach(self, conn: Connection, keep_session: bool) -> Session | None:
        """Unlink a connection from its session; start the session's expiry clock unless told not to."""
        conn.detached = True
        session = conn.session
        if session is None or session.conn is not conn:
            return None
        session.conn = None
        log.info("client %s disconnected", session.client_id)
        if keep_session:
            return session
        if session.expiry == 0:
            self._end_session(session)
        elif session.expiry != NEVER_EXPIRES:
            session.expires_at = self._clock() + session.expiry
            session.expiry_timer = asyncio.get_running_loop().call_later(
                session.expiry, self._expire, session
            )
        return session

    def _catch_up(self, session: Session) -> Session | None:
        """Apply, by the broker's clock, a will delay or session expiry whose timer has not run yet.

        The timers run on the event loop's own clock; checking again here keeps the outcome of a
        reconnect defined by the injected clock alone.
        """
        now = self._clock()
        if session.pending_will is not None and session.will_due is not None and now >= session.will_due:
            self._delayed_will(session)
        if session.expires_at is not None and now >= session.expires_at:
            self._expire(session)
            return None
        return session

    def _expire(self, session: Session) -> None:
        self.stats.sessions_expired += 1
        log.info("session %s expired with %d queued messages", session.client_id, len(session.queue))
        self._end_session(session)

    def _end_session(self, session: Session) -> None:
        session.cancel_timers()
        if self._sessions.get(session.client_id) is session:
            del self._sessions[session.client_id]
        will, session.pending_will = session.pending_will, None
        if will is not None:
            self._publish_will(session.client_id, will)

    def _delayed_will(self, session: Session) -> None:
        session.will_timer = None
        will, session.pending_will = session.pending_will, None
        if will is not None:
            self._publish_will(session.client_id, will)

    def _publish_will(self, client_id: str, will: Will) -> None:
        self.stats.wills_published += 1
        log.info("publishing the will of %s on %s", client_id, will.topic)
        msg = self._message(will.topic, will.payload, will.qos, will.retain, will.properties, client_id)
        self._route(msg)

    # --- packets from a connected client ------------------------------------------------------

    def _dispatch(self, conn: Connection, packet: Packet) -> bool:
        """Act on one packet; False when the client said goodbye."""
        session = conn.session
        assert session is not None
        if isinstance(packet, Publish):
            self._on_publish(conn, session, packet)
        elif isinstance(packet, Ack):
            self._on_ack(conn, session, packet)
        elif isinstance(packet, Subscribe):
            self._on_subscribe(conn, session, packet)
        elif isinstance(packet, Unsubscribe):
            codes: list[int] = []
            for text in packet.filters:
                removed = session.subscriptions.pop(text, None)
                codes.append(Reason.SUCCESS if removed else Reason.NO_SUBSCRIPTION_EXISTED)
            conn.send(encode_unsuback(conn.level, packet.packet_id, codes))
        elif isinstance(packet, PingReq):
            conn.send(encode_pingresp())
        elif isinstance(packet, Disconnect):
            self._on_disconnect(conn, session, packet)
            return False
        else:
            raise MqttProtocolError("second CONNECT on one connection")
        return True

    def _on_disconnect(self, conn: Connection, session: Session, packet: Disconnect) -> None:
        new_expiry = prop(packet.properties, Prop.SESSION_EXPIRY_INTERVAL)
        if isinstance(new_expiry, int):
            if session.expiry == 0 and new_expiry != 0:
                raise MqttProtocolError("session expiry raised from 0 at DISCONNECT")
            session.expiry = new_expiry
        if packet.reason != Reason.DISCONNECT_WITH_WILL:
            conn.will = None
        log.info("client %s sent DISCONNECT (reason 0x%02x)", session.client_id, packet.reason)

    def _message(
        self, topic: str, payload: bytes, qos: int, retain: bool, props: Properties, origin: str
    ) -> Message:
        expiry = prop(props, Prop.MESSAGE_EXPIRY_INTERVAL)
        expires_at = self._clock() + expiry if isinstance(expiry, int) else None
        forwarded = tuple((k, v) for k, v in props if k not in _HOP_PROPERTIES)
        return Message(topic, payload, qos, retain, forwarded, origin, expires_at)

    def _on_publish(self, conn: Connection, session: Session, p: Publish) -> None:
        if not valid_topic_name(p.topic):
            raise MqttProtocolError("invalid topic name %r" % p.topic, Reason.TOPIC_NAME_INVALID)
        if prop(p.properties, Prop.TOPIC_ALIAS) is not None:
            raise MqttProtocolError("topic alias used but none allowed", Reason.TOPIC_ALIAS_INVALID)
        if prop(p.properties, Prop.SUBSCRIPTION_IDENTIFIER) is not None:
            raise MqttProtocolError("subscription identifier in a client PUBLISH")
        self.stats.messages_received += 1
        if p.qos == 2:
            if p.packet_id not in session.awaiting_release:
                session.awaiting_release.add(p.packet_id)
                self._route(self._message(p.topic, p.payload, 2, p.retain, p.properties, session.client_id))
            conn.send(encode_ack(conn.level, PacketType.PUBREC, p.packet_id))
            return
        self._route(self._message(p.topic, p.payload, p.qos, p.retain, p.properties, session.client_id))
        if p.qos == 1:
            conn.send(encode_ack(conn.level, PacketType.PUBACK, p.packet_id))

    def _on_ack(self, conn: Connection, session: Session, a: Ack) -> None:
        if a.type == PacketType.PUBACK:
            if session.inflight.pop(a.packet_id, None) is not None:
                self._pump(session)
        elif a.type == PacketType.PUBREL:
            known = a.packet_id in session.awaiting_release
            session.awaiting_release.discard(a.packet_id)
            reason = Reason.SUCCESS if known else Reason.PACKET_IDENTIFIER_NOT_FOUND
            conn.send(encode_ack(conn.level, PacketType.PUBCOMP, a.packet_id, reason))
        else:
            # This broker never sends QoS 2, so PUBREC/PUBCOMP from a client refer to nothing.
            log.debug("client %s sent an unexpected %s", session.client_id, a.type.name)

    def _on_subscribe(self, conn: Connection, session: Session, s: Subscribe) -> None:
        sub_id = prop(s.properties, Prop.SUBSCRIPTION_IDENTIFIER)
        if sub_id == 0:
            raise MqttProtocolError("subscription identifier 0")
        codes: list[int] = []
        fresh: list[Subscription] = []
        for req in s.requests:
            tf = parse_filter(req.filter)
            if tf is None:
                codes.append(Reason.TOPIC_FILTER_INVALID if conn.level >= PROTOCOL_V5 else 0x80)
                continue
            if tf.group is not None and req.no_local:
                raise MqttProtocolError("no-local on a shared subscription")
            granted = min(req.qos, 1)
            sub = Subscription(
                tf,
                granted,
                req.no_local,
                req.retain_as_published,
                sub_id if isinstance(sub_id, int) else None,
            )
            is_new = req.filter not in session.subscriptions
            session.subscriptions[req.filter] = sub
            codes.append(granted)
            # Retained messages are never sent for shared subscriptions (MQTT 5 section 4.8.2).
            if tf.group is None and (req.retain_handling == 0 or (req.retain_handling == 1 and is_new)):
                fresh.append(sub)
        conn.send(encode_suback(conn.level, s.packet_id, codes))
        now = self._clock()
        for sub in fresh:
            ids = (sub.subscription_id,) if sub.subscription_id is not None else ()
            for topic, msg in list(self._retained.items()):
                if msg.expired(now):
                    del self._retained[topic]
                elif matches(sub.topic_filter.levels, topic.split("/")):
                    self._deliver(session, Delivery(msg, min(msg.qos, sub.qos), True, ids))

    # --- routing ------------------------------------------------------------------------------

    def _route(self, msg: Message) -> None:
        if msg.retain:
            if msg.payload:
                self._retained[msg.topic] = msg
            else:
                self._retained.pop(msg.topic, None)
        levels = msg.topic.split("/")
        groups: dict[tuple[str, str], list[tuple[Session, Subscription]]] = {}
        for session in list(self._sessions.values()):
            qos, retain, hit = 0, False, False
            ids: list[int] = []
            for sub in session.subscriptions.values():
                tf = sub.topic_filter
                if not matches(tf.levels, levels):
                    continue
                if tf.group is not None:
                    groups.setdefault((tf.group, tf.filter), []).append((session, sub))
                    continue
                if sub.no_local and msg.origin == session.client_id:
                    continue
                hit = True
                qos = max(qos, min(msg.qos, sub.qos))
                retain = retain or (sub.retain_as_published and msg.retain)
                if sub.subscription_id is not None:
                    ids.append(sub.subscription_id)
            if hit:
                self._deliver(session, Delivery(msg, qos, retain, tuple(ids)))
        for key, members in groups.items():
            # Prefer members that are online, so a dead server instance does not hold every n-th alarm.
            pool = sorted(
                [m for m in members if m[0].conn is not None] or members, key=lambda m: m[0].client_id
            )
            turn = self._round_robin.get(key, 0)
            self._round_robin[key] = turn + 1
            session, sub = pool[turn % len(pool)]
            one = (sub.subscription_id,) if sub.subscription_id is not None else ()
            retain = sub.retain_as_published and msg.retain
            self._deliver(session, Delivery(msg, min(msg.qos, sub.qos), retain, one))

    def _deliver(self, session: Session, d: Delivery) -> None:
        conn = session.conn
        if d.qos == 0:
            if conn is None:
                return
            if conn.buffered() > self.config.write_buffer_limit:
                self.stats.dropped_slow_client += 1
                return
            data = self._encode(conn, d, 0, dup=False)
            if data is not None:
                conn.send(data)
                self.stats.messages_sent += 1
            return
        if conn is not None and not session.queue and len(session.inflight) < self._quota(conn):
            self._send_inflight(session, conn, d)
            return
        if len(session.queue) >= self.config.max_queued:
            self.stats.dropped_queue_full += 1
            session.dropped += 1
            if session.dropped == 1 or session.dropped % 1000 == 0:
                log.warning(
                    "queue of %s full (%d): dropped %d messages so far",
                    session.client_id,
                    self.config.max_queued,
                    session.dropped,
                )
            return
        session.queue.append(d)

    def _quota(self, conn: Connection) -> int:
        return min(conn.receive_maximum, self.config.max_inflight)

    def _pump(self, session: Session) -> None:
        conn = session.conn
        if conn is None:
            return
        now = self._clock()
        quota = self._quota(conn)
        while session.queue and len(session.inflight) < quota:
            d = session.queue.popleft()
            if not d.message.expired(now):
                self._send_inflight(session, conn, d)

    def _send_inflight(self, session: Session, conn: Connection, d: Delivery) -> None:
        packet_id = session.next_packet_id()
        data = self._encode(conn, d, packet_id, dup=False)
        if data is None:
            return
        session.inflight[packet_id] = d
        conn.send(data)
        self.stats.messages_sent += 1

    def _encode(self, conn: Connection, d: Delivery, packet_id: int, dup: bool) -> bytes | None:
        msg = d.message
        props: Properties = ()
        if conn.level >= PROTOCOL_V5:
            extra: list[tuple[int, int]] = []
            if msg.expires_at is not None:
                left = max(0, math.ceil(msg.expires_at - self._clock()))
                extra.append((Prop.MESSAGE_EXPIRY_INTERVAL, left))
            extra.extend((Prop.SUBSCRIPTION_IDENTIFIER, i) for i in d.subscription_ids)
            props = msg.properties + tuple(extra)
        data = encode_publish(conn.level, msg.topic, msg.payload, d.qos, d.retain, dup, packet_id, props)
        if conn.max_packet_size and len(data) > conn.max_packet_size:
            # MQTT 5 section 3.1.2.11.4: drop it for this client as if it had been delivered.
            self.stats.dropped_too_large_for_client += 1
            log.warning("message on %s too large for client %s; dropped", msg.topic, conn.name)
            return None
        return data
