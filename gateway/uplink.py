"""MQTT uplink: event batches up, server acks and commands down.

paho runs its own network thread and reconnects with backoff; its callbacks only put items
on a queue. One uplink thread owns all state (what is in flight, when to resend) and is the
only place that decides anything. Rows are settled only on the server's ``ack`` message,
never on PUBACK (delivery rule, docs/protocol.md).
"""

from __future__ import annotations

import bisect
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.config import GatewaySettings
from gateway.counters import Counters
from gateway.errors import GatewayError
from gateway.outbox import OutboxReader, Settled
from gateway.store import OutboxWriter
from protocol.errors import ProtocolError
from protocol.event import Event
from protocol.kinds import Priority
from protocol.payloads import Command, CommandResult, GatewayStatus, decode_ack, encode_events
from protocol.topics import Topics

log = logging.getLogger(__name__)

StatusFn = Callable[[], dict[str, Any]]
CommandFn = Callable[[Command], "CommandResult | None"]  # None: the result follows later
SettledFn = Callable[[list[Settled]], None]

STATUS_EVERY_S = 60.0


@dataclass(slots=True)
class _Batch:
    seqs: set[int]
    sent_at: float
    lo: int = 0
    hi: int = 0
    resends: int = 0


@dataclass(slots=True)
class _State:
    connected: bool = False
    # Highest seq published per priority since the last (re)connect: alarms jump the queue,
    # and within one priority (where a device's related kinds live) order is kept.
    cursors: dict[Priority, int] = field(default_factory=lambda: dict.fromkeys(Priority, 0))
    inflight: list[_Batch] = field(default_factory=list)
    status_at: float = 0.0
    # Ack progress: while the server keeps acking, a batch still waiting is most likely queued
    # behind the others, and resending it would only add work to a server already behind.
    progress_at: float = 0.0
    newest_acked_sent_at: float = -1.0


class Uplink:
    def __init__(
        self,
        settings: GatewaySettings,
        reader: OutboxReader,
        writer: OutboxWriter,
        counters: Counters,
        *,
        status: StatusFn,
        on_command: CommandFn,
        on_settled: SettledFn | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.writer = writer
        self.counters = counters
        self.status = status
        self.on_command = on_command
        self.on_settled = on_settled
        self.clock = clock
        self.topics = Topics(settings.mqtt.prefix)
        self.gw = settings.id
        self._q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._state = _State()
        self._thread = threading.Thread(target=self._run, name="uplink:%s" % self.gw, daemon=True)
        self._client = self._make_client()
        self.connected = threading.Event()

    # --- paho boundary: callbacks only enqueue ------------------------------------------

    def _make_client(self) -> mqtt.Client:
        m = self.settings.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="shouwang-%s" % self.gw,
            protocol=mqtt.MQTTv5,
        )
        client.will_set(self.topics.status(self.gw), GatewayStatus("offline", {"gateway": self.gw}).encode(),
                        qos=1, retain=True)
        if m.username:
            client.username_pw_set(m.username, m.password or None)
        if m.tls:
            client.tls_set(ca_certs=m.ca_file or None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused connection: %s", reason)
            return
        _no_delay(client)
        self._q.put(("up", bool(getattr(flags, "session_present", False))))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._q.put(("down", str(reason)))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._q.put(("subscribed", mid))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._q.put(("msg", msg.topic, bytes(msg.payload)))

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        m = self.settings.mqtt
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = m.session_expiry_s
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive_s, clean_start=False,
                                   properties=props)
        self._client.loop_start()
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        if self._thread.is_alive():
            self._q.put(("stop",))
            self._thread.join(timeout + 2)
        self._client.loop_stop()

    def wake(self, *_: object) -> None:
        self._q.put(("wake",))

    # --- the uplink thread --------------------------------------------------------------

    def _run(self) -> None:
        tick = min(0.25, self.settings.mqtt.resend_after_s / 4)
        while True:
            try:
                item = self._q.get(timeout=tick)
            except queue.Empty:
                item = ("tick",)
            try:
                if item[0] == "stop":
                    self._shutdown()
                    return
                self._handle(item)
                self._pump()
            except GatewayError as exc:
                self.counters.inc("errors.uplink")
                log.error("uplink: %s", exc)
            except Exception:
                self.counters.inc("errors.uplink")
                log.exception("uplink step failed")

    def _handle(self, item: tuple[Any, ...]) -> None:
        st = self._state
        kind = item[0]
        if kind == "up":
            log.info("connected to %s (session present: %s)", self.settings.mqtt.url, item[1])
            st.connected = True
            self.counters.inc("mqtt.connects")
            self._client.subscribe([(self.topics.ack(self.gw), 1), (self.topics.cmd(self.gw), 1)])
            self._publish_status()
            # Anything not acked yet goes out again: the server is idempotent on event id.
            st.cursors = dict.fromkeys(Priority, 0)
            st.inflight.clear()
        elif kind == "subscribed":
            # Ready means acks and commands can reach us, not merely that TCP is up.
            if st.connected:
                self.connected.set()
        elif kind == "down":
            if st.connected:
                log.warning("disconnected from broker: %s", item[1])
            st.connected = False
            self.connected.clear()
        elif kind == "msg":
            self._message(item[1], item[2])
        elif kind == "result":
            self._result(item[1])

    def _message(self, topic: str, payload: bytes) -> None:
        if topic == self.topics.ack(self.gw):
            try:
                ranges = decode_ack(payload)
            except ProtocolError as exc:
                self.counters.inc("rejected.bad_ack")
                log.warning("bad ack payload: %s", exc)
                return
            self.counters.inc("mqtt.acks")
            self._forget(ranges)
            self.writer.settle(ranges, self.on_settled)
        elif topic == self.topics.cmd(self.gw):
            try:
                cmd = Command.decode(payload)
            except ProtocolError as exc:
                self.counters.inc("rejected.bad_command")
                log.warning("bad command payload: %s", exc)
                return
            try:
                result = self.on_command(cmd)
            except Exception as exc:
                log.exception("command %s failed", cmd.op)
                result = CommandResult(cmd.id, False, {"error": "internal", "detail": str(exc)})
            if result is not None:
                self._result(result)

    def _result(self, result: CommandResult) -> None:
        self.counters.inc("commands.%s" % ("ok" if result.ok else "failed"))
        self._client.publish(self.topics.cmd_result(self.gw), result.encode(), qos=1)

    def publish_result(self, result: CommandResult) -> None:
        """From any thread: a command result that was not ready when the command arrived."""
        self._q.put(("result", result))

    def _forget(self, ranges: list[tuple[int, int]]) -> None:
        ranges = _merge(ranges)
        los = [lo for lo, _ in ranges]
        kept = []
        st = self._state
        for batch in st.inflight:
            if any(lo <= batch.hi and batch.lo <= hi for lo, hi in ranges):
                batch.seqs = {s for s in batch.seqs if not _covered(ranges, los, s)}
                st.progress_at = self.clock()
            if batch.seqs:
                kept.append(batch)
            else:
                st.newest_acked_sent_at = max(st.newest_acked_sent_at, batch.sent_at)
        st.inflight = kept

    def _publish(self, events: list[Event]) -> bool:
        info = self._client.publish(self.topics.events(self.gw), encode_events(events), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish failed (rc=%s); will resend", info.rc)
            return False
        self.counters.inc("mqtt.batches")
        return True

    def _pump(self) -> None:
        st = self._state
        if not st.connected:
            return
        now = self.clock()
        if now - st.status_at >= STATUS_EVERY_S:
            self._publish_status()
        resend_after = self.settings.mqtt.resend_after_s
        idle = now - st.progress_at >= resend_after
        for batch in st.inflight:
            if now - batch.sent_at < resend_after:
                continue
            # Resend when the server has gone quiet, or when a batch sent after this one was
            # acked (this one was lost, or sits with a server instance that died).
            if not idle and st.newest_acked_sent_at <= batch.sent_at:
                continue
            again = self.reader.events(batch.seqs)
            batch.seqs = {e.seq for e in again}
            if again and self._publish(again):
                self.counters.inc("resent", len(again))
                batch.resends += 1
            batch.sent_at = now
        st.inflight = [b for b in st.inflight if b.seqs]
        size = self.settings.outbox.batch_size
        while len(st.inflight) < self.settings.outbox.max_inflight_batches:
            events: list[Event] = []
            for prio in Priority:
                if len(events) < size:
                    chunk = self.reader.pending(st.cursors[prio], size - len(events), prio)
                    if chunk:
                        st.cursors[prio] = chunk[-1].seq
                        events.extend(chunk)
            if not events:
                break
            seqs = {e.seq for e in events}
            # A failed publish still enters the window, so the resend timer retries it.
            self._publish(events)
            self.counters.inc("sent", len(events))
            st.inflight.append(_Batch(seqs, now, min(seqs), max(seqs)))

    def _publish_status(self) -> None:
        self._state.status_at = self.clock()
        payload = GatewayStatus("online", self.status()).encode()
        self._client.publish(self.topics.status(self.gw), payload, qos=1, retain=True)

    def _shutdown(self) -> None:
        if self._state.connected:
            body = dict(self.status())
            info = self._client.publish(self.topics.status(self.gw), GatewayStatus("offline", body).encode(),
                                        qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._state.connected = False
        self.connected.clear()

    @property
    def inflight(self) -> int:
        return sum(len(b.seqs) for b in self._state.inflight)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def _covered(ranges: list[tuple[int, int]], los: list[int], seq: int) -> bool:
    i = bisect.bisect_right(los, seq) - 1
    return i >= 0 and ranges[i][0] <= seq <= ranges[i][1]


def _no_delay(client: mqtt.Client) -> None:
    """Turn off Nagle's algorithm: paho leaves it on, and a batch published right after a
    PUBACK would otherwise wait for the broker's delayed TCP ACK (40 ms on Linux)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
