"""Sends what the outbox holds, and marks a row sent only when the transport confirmed it.

Rows just committed are handed over in memory (``submit``) and sent at once. A sweep every
``interval`` claims rows whose holder's lease ran out (a crash, a broker outage, another
instance that died) and sends them again; the first sweep after start takes every unsent row,
so a restarted server sends what its previous life committed but never got out. At least once.

Each channel has a sender (``register``): duty alerts go over MQTT and count as sent on PUBACK;
a notification channel plugs in the same way.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from protocol.errors import ProtocolError
from protocol.topics import Topics
from server.clock import Clock
from server.db.engine import Database
from server.errors import ServerError
from server.metrics import Metrics
from server.outbox import (
    DUTY_ALERT,
    OutboxItem,
    claim,
    committed_rows,
    has_due,
    mark_sent,
    note_failure,
    prune,
)
from server.publish import ConfirmingPublisher

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=30)  # a send that failed outright (not merely unconfirmed)


@dataclass
class Sent:
    confirmed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # id -> why; tried again after a pause
    # Neither: not tried (the link is down) or not confirmed in time; due again after the lease.


class Sender(Protocol):
    def ready(self) -> bool: ...

    def send(self, items: Sequence[OutboxItem]) -> Sent: ...


class MqttDutyAlerts:
    """Duty alerts over MQTT (QoS 1): confirmed when the broker's PUBACK came back."""

    def __init__(
        self,
        publisher: ConfirmingPublisher,
        topics: Topics,
        connected: Callable[[], bool] = lambda: True,
        confirm_timeout: float = 10.0,
    ) -> None:
        self.publisher = publisher
        self.topics = topics
        self.connected = connected
        self.confirm_timeout = confirm_timeout

    def ready(self) -> bool:
        return self.connected()

    def send(self, items: Sequence[OutboxItem]) -> Sent:
        out = Sent()
        if not self.connected():
            return out  # paho would queue them in memory; the outbox already keeps them
        waiting = []
        for item in items:
            try:
                topic = self.topics.duty_alerts(item.target.split("/") if item.target else [])
                waiting.append((item, self.publisher.publish(topic, item.payload)))
            except (ProtocolError, ServerError) as exc:
                out.failed[item.id] = str(exc)
        deadline = time.monotonic() + self.confirm_timeout
        for item, delivery in waiting:
            if delivery is None:  # a publisher that returns once the message is delivered
                out.confirmed.append(item.id)
                continue
            try:
                delivery.wait_for_publish(max(0.0, deadline - time.monotonic()))
                if delivery.is_published():
                    out.confirmed.append(item.id)
            except (RuntimeError, ValueError) as exc:  # paho: not queued, or the link went away
                log.warning("alert %d not confirmed: %s", item.id, exc)
        return out


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        owner: str,
        metrics: Metrics,
        interval: float = 1.0,
        retention: timedelta = timedelta(days=1),
        batch: int = 500,
        mark_every: float = 0.25,
    ) -> None:
        self.db = db
        self.clock = clock
        self.owner = owner
        self.metrics = metrics
        self.interval = interval
        self.retention = retention
        self.batch = batch
        # Confirmed rows are marked sent together, at most this long after their PUBACK: one
        # write for many alerts, out of the ingest's way. (A crash in between sends them again.)
        self.mark_every = mark_every
        self._confirmed: list[int] = []
        self._confirmed_since = 0.0
        self.senders: dict[str, Sender] = {}
        self._inbox: queue.SimpleQueue[list[OutboxItem] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Until a sweep has run with a sender ready, sweeps also take rows written before the
        # relay started, held or not: a restart sends what its previous life left unsent.
        self._started_at = clock()
        self._recovered = False
        self._recovered_to = 0  # the highest id recovery has taken so far

    def register(self, channel: str, sender: Sender) -> None:
        self.senders[channel] = sender

    # --- handing rows over ------------------------------------------------------------------

    def submit(self, items: Sequence[OutboxItem]) -> None:
        """Rows just committed (``duty_alert_hook`` hands them over). Before ``start`` they are
        sent in the caller's thread (tools, tests); after it, by the relay's thread."""
        if not items:
            return
        if self._thread is None:
            self.deliver_committed(items)
        else:
            self._inbox.put(list(items))

    def deliver_committed(self, items: Sequence[OutboxItem]) -> int:
        """Send handed-over rows as the database holds them (what a savepoint undid is gone)."""
        with self.db.read() as session:
            rows = committed_rows(session, [i.id for i in items])
        return self.deliver(rows) if rows else 0

    def deliver(self, items: Sequence[OutboxItem]) -> int:
        """Send, then record what was confirmed (sent) and what failed (retry later)."""
        by_channel: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_channel.setdefault(item.channel, []).append(item)
        confirmed: list[int] = []
        failed: dict[int, str] = {}
        for channel, group in by_channel.items():
            sender = self.senders.get(channel)
            if sender is None:  # another instance may know it; the lease hands it over
                log.warning("no sender for %d outbox rows of channel %s", len(group), channel)
                continue
            result = sender.send(group)
            confirmed.extend(result.confirmed)
            failed.update(result.failed)
            if channel == DUTY_ALERT:
                self.metrics.inc("alerts_published", len(result.confirmed))
            unconfirmed = len(group) - len(result.confirmed) - len(result.failed)
            if unconfirmed:
                self.metrics.inc("outbox_unconfirmed", unconfirmed, reason=channel)
        if failed:
            self.metrics.inc("outbox_failed", len(failed))
            log.error("outbox: %d sends failed, retried later: %s", len(failed), sorted(failed.items())[:5])
        if failed:
            with self.db.write() as session:
                retry_at = self.clock() + RETRY_AFTER
                for error in set(failed.values()):
                    note_failure(session, [i for i, e in failed.items() if e == error], error, retry_at)
        if confirmed:
            if not self._confirmed:
                self._confirmed_since = time.monotonic()
            self._confirmed.extend(confirmed)
            if self._thread is None or len(self._confirmed) >= self.batch:
                self.mark_confirmed()
        return len(confirmed)

    def mark_confirmed(self) -> None:
        """Record the confirmed rows as sent (one transaction for all of them)."""
        if not self._confirmed:
            return
        ids, self._confirmed = self._confirmed, []
        try:
            with self.db.write() as session:
                mark_sent(session, ids, self.clock())
        except Exception:
            self._confirmed = ids + self._confirmed  # tried again at the next step
            raise

    def sweep(self) -> int:
        """Claim rows left behind and send them; how many were confirmed."""
        if not any(s.ready() for s in self.senders.values()):
            return 0
        recovering = not self._recovered
        if not recovering:
            # Most sweeps find nothing: look first without taking the (SQLite: only) write lock.
            with self.db.read() as session:
                if not has_due(session, self.clock()):
                    return 0
        with self.db.write() as session:
            if recovering:
                items = claim(
                    session, self.clock(), self.owner, self.batch, self._started_at, self._recovered_to
                )
            else:
                items = claim(session, self.clock(), self.owner, self.batch)
        if recovering:
            self._recovered_to = max([self._recovered_to, *(i.id for i in items)])
            self._recovered = len(items) < self.batch
        if items:
            since = " before this start" if recovering else ""
            log.warning("outbox: sending %d messages left unsent%s", len(items), since)
        return self.deliver(items) if items else 0

    # --- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._started_at = self.clock()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._inbox.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        next_sweep = 0.0
        next_prune = time.monotonic() + 600.0
        while True:
            items: list[OutboxItem] = []
            stop = False
            wait = self.interval
            if self._confirmed:
                wait = max(0.0, min(wait, self._confirmed_since + self.mark_every - time.monotonic()))
            try:
                got = self._inbox.get(timeout=wait)
                while True:  # take everything handed over meanwhile: one confirmation wait
                    if got is None:
                        stop = True
                        break
                    items.extend(got)
                    got = self._inbox.get_nowait()
            except queue.Empty:
                pass
            try:
                if items:
                    self.deliver_committed(items)
                if self._confirmed and (stop or time.monotonic() >= self._confirmed_since + self.mark_every):
                    self.mark_confirmed()
                if stop:
                    return
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.interval
                    while self.sweep() >= self.batch:
                        pass
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + 600.0
                    with self.db.write() as session:
                        prune(session, self.clock() - self.retention)
            except Exception:
                # Whatever failed stays in the table and is swept again: log, go on.
                self.metrics.inc("outbox_errors")
                log.exception("outbox relay step failed")
