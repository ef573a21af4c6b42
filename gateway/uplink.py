"""MQTT uplink: event batches up, server acks and commands down.

The shared ``mqttlink.Link`` runs paho's network thread, reconnects with backoff and puts one
typed item per callback on this uplink's queue, beside the uplink's own items (wake, stop, a
late command result). One uplink thread owns all state (what is in flight, when to resend) and
is the only place that decides anything. Rows are settled only on the server's ``ack`` message,
never on PUBACK (delivery rule, docs/protocol.md).
"""

from __future__ import annotations

import bisect
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from gateway.config import GatewaySettings
from gateway.counters import Counters
from gateway.errors import GatewayError
from gateway.outbox import OutboxReader, Settled
from gateway.store import OutboxWriter
from mqttlink import (
    CleanStart,
    Connected,
    Disconnected,
    Link,
    LinkError,
    Received,
    Session,
    Subscribed,
    Subscription,
    Will,
)
from protocol.errors import ProtocolError
from protocol.event import Event
from protocol.kinds import Priority
from protocol.payloads import Command, CommandResult, GatewayStatus, decode_ack_message, encode_events
from protocol.topics import Topics

log = logging.getLogger(__name__)

StatusFn = Callable[[], dict[str, Any]]
CommandFn = Callable[[Command], "CommandResult | None"]  # None: the result follows later
SettledFn = Callable[[list[Settled]], None]

STATUS_EVERY_S = 60.0


class UplinkChannel(Protocol):
    """Another stream over the gateway's one link (the kiosk's station actions). Its topics are
    subscribed beside ``ack`` and ``cmd``; every method runs on the uplink thread."""

    topics: tuple[str, ...]

    def link_up(self) -> None:
        """Subscribed: messages can flow both ways."""

    def link_down(self) -> None: ...

    def received(self, topic: str, payload: bytes) -> None: ...

    def pump(self, publish: Callable[[str, bytes], bool], now: float) -> None:
        """Publish what is due; ``publish`` is False when paho refused the message."""


@dataclass(frozen=True, slots=True)
class Wake:
    """New rows were committed: publish them now rather than at the next tick."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Publish the offline status, disconnect and end the uplink thread."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing arrived for a while: time to look at resends and the status."""


@dataclass(frozen=True, slots=True)
class LateResult:
    """A command result that was not ready when its command arrived (a node's answer)."""

    result: CommandResult


UplinkItem = Connected | Subscribed | Disconnected | Received | Wake | Stop | Tick | LateResult


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
        channels: Sequence[UplinkChannel] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.writer = writer
        self.counters = counters
        self.status = status
        self.on_command = on_command
        self.on_settled = on_settled
        self.channels = tuple(channels)
        self._channel_of = {topic: ch for ch in self.channels for topic in ch.topics}
        self.clock = clock
        self.topics = Topics(settings.mqtt.prefix)
        self.gw = settings.id
        self._q: queue.SimpleQueue[UplinkItem] = queue.SimpleQueue()
        self._state = _State()
        self._thread = threading.Thread(target=self._run, name="uplink:%s" % self.gw, daemon=True)
        m = settings.mqtt
        self._link = Link(
            m.broker,
            "shouwang-%s" % self.gw,
            self._q,
            # The gateway keeps its session: acks and commands queue at the broker while it is away.
            session=Session(m.session_expiry_s, CleanStart.NEVER, m.keepalive_s),
            subscriptions=[Subscription(self.topics.ack(self.gw)), Subscription(self.topics.cmd(self.gw)),
                           *(Subscription(topic) for topic in self._channel_of)],
            will=Will(self.topics.status(self.gw), GatewayStatus("offline", {"gateway": self.gw}).encode()),
            clock=clock,
        )
        self.connected = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._link.start()
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        if self._thread.is_alive():
            self._q.put(Stop())
            self._thread.join(timeout + 2)
        self._link.stop()

    def wake(self, *_: object) -> None:
        self._q.put(Wake())

    # --- the uplink thread --------------------------------------------------------------

    def _run(self) -> None:
        tick = min(0.25, self.settings.mqtt.resend_after_s / 4)
        while True:
            item: UplinkItem
            try:
                item = self._q.get(timeout=tick)
            except queue.Empty:
                item = Tick()
            try:
                if isinstance(item, Stop):
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

    def _handle(self, item: UplinkItem) -> None:
        st = self._state
        if isinstance(item, Connected):
            st.connected = True
            self.counters.inc("mqtt.connects")
            self._publish_status()
            # Anything not acked yet goes out again: the server is idempotent on event id.
            st.cursors = dict.fromkeys(Priority, 0)
            st.inflight.clear()
        elif isinstance(item, Subscribed):
            # Ready means acks and commands can reach us, not merely that TCP is up.
            if st.connected:
                self.connected.set()
                for ch in self.channels:
                    ch.link_up()
        elif isinstance(item, Disconnected):
            if st.connected:
                log.warning("disconnected from broker: %s", item.reason)
            st.connected = False
            self.connected.clear()
            for ch in self.channels:
                ch.link_down()
        elif isinstance(item, Received):
            self._message(item.topic, item.payload)
        elif isinstance(item, LateResult):
            self._result(item.result)

    def _message(self, topic: str, payload: bytes) -> None:
        if topic == self.topics.ack(self.gw):
            try:
                ack = decode_ack_message(payload)
            except ProtocolError as exc:
                self.counters.inc("rejected.bad_ack")
                log.warning("bad ack payload: %s", exc)
                return
            self.counters.inc("mqtt.acks")
            if ack.high_water is not None:
                # The server holds our seqs from an earlier install: continue above them.
                high_water = ack.high_water
                self.writer.call(lambda box: box.move_past(high_water))
            ranges = ack.ranges
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
        elif topic in self._channel_of:
            self._channel_of[topic].received(topic, payload)

    def _result(self, result: CommandResult) -> None:
        self.counters.inc("commands.%s" % ("ok" if result.ok else "failed"))
        try:
            self._link.publish(self.topics.cmd_result(self.gw), result.encode())
        except LinkError as exc:
            log.warning("command result %s not sent: %s", result.id, exc)

    def publish_result(self, result: CommandResult) -> None:
        """From any thread: a command result that was not ready when the command arrived."""
        self._q.put(LateResult(result))

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
        try:
            info = self._link.publish(self.topics.events(self.gw), encode_events(events))
        except LinkError as exc:
            log.warning("%s; will resend", exc)
            return False
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
        for ch in self.channels:
            ch.pump(self._publish_to, now)

    def _publish_to(self, topic: str, payload: bytes) -> bool:
        """A channel's message, QoS 1; False when paho refused it (the channel sends it again)."""
        try:
            info = self._link.publish(topic, payload)
        except LinkError as exc:
            log.warning("%s; will resend", exc)
            return False
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _publish_status(self) -> None:
        self._state.status_at = self.clock()
        payload = GatewayStatus("online", self.status()).encode()
        try:
            self._link.publish(self.topics.status(self.gw), payload, retain=True)
        except LinkError as exc:
            log.warning("status not sent: %s", exc)

    def _shutdown(self) -> None:
        if self._state.connected:
            body = dict(self.status())
            try:
                offline = GatewayStatus("offline", body).encode()
                info = self._link.publish(self.topics.status(self.gw), offline, retain=True)
                info.wait_for_publish(2.0)
            except (LinkError, RuntimeError, ValueError):
                pass
        self._link.stop()
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
