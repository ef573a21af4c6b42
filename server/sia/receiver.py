"""One frame in, one answer out: check, store, commit, and only then ACK.

``PanelReceiver.handle`` is the whole job and knows nothing of sockets, so the TCP and UDP
listeners and the tests share it. Frames are handled one at a time (a lock): a panel's retry
never races its first copy, and the order of a panel's messages is kept.

Answers (SIA DC-09):
- ACK after the events are committed (a resend of a stored frame is acked again, stored once);
- NAK for a bad CRC or frame, an unknown account, a missing or wrong key, a plain frame from an
  account that must encrypt, a timestamp outside the window, a replay, and a database that
  cannot store (the panel retries, or reports on its backup path);
- DUH for a well-formed frame we cannot act on (unknown message type, unreadable data).
Every refusal is counted (``sia_rejected{reason}``), logged, and never reaches a case.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from protocol.dc09 import WINDOW_FUTURE, WINDOW_PAST, Message, ack, judge, nak
from protocol.errors import ProtocolError
from protocol.event import Event
from protocol.ids import panel_device_id
from protocol.kinds import Kind
from protocol.topics import Topics
from server.alerts import Alert, AlertHook, no_hook
from server.clock import Clock, system_clock
from server.db.engine import Database
from server.db.models import Device, EventRow, PanelLink
from server.db.upsert import insert_ignore
from server.ingest.mqtt import Publisher
from server.ingest.store import store_events
from server.metrics import Metrics
from server.publish import publish_alerts
from server.settings import Deadlines
from server.sia.events import frame_digest, link_event, panel_events

log = logging.getLogger(__name__)

RECENT_PER_ACCOUNT = 64  # frame digests remembered per account, for replay detection


class PanelReceiver:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        topics: Topics,
        metrics: Metrics,
        clock: Clock = system_clock,
        deadlines: Deadlines | None = None,
        window_past: timedelta = WINDOW_PAST,
        window_future: timedelta = WINDOW_FUTURE,
        on_alerts: AlertHook = no_hook,
    ) -> None:
        self.db = db
        self.on_alerts = on_alerts
        self.publisher = publisher
        self.topics = topics
        self.metrics = metrics
        self.clock = clock
        self.deadlines = deadlines or Deadlines()
        self.window_past = window_past
        self.window_future = window_future
        self._lock = threading.Lock()
        # account -> digests of frames accepted lately, oldest first; the last is the latest.
        self._recent: dict[str, OrderedDict[str, datetime]] = {}

    def handle(self, raw: bytes, peer: str = "") -> bytes:
        """The answer to send back for one frame (without or with its LF and CR)."""
        with self._lock:
            return self._handle(raw, peer)

    def _key_for(self, account: str) -> bytes | None:
        try:
            device_id = panel_device_id(account)
        except ProtocolError:
            raise ProtocolError("unknown_account", account) from None
        with self.db.read() as session:
            row = session.execute(select(Device.key).where(Device.id == device_id)).one_or_none()
        if row is None:
            raise ProtocolError("unknown_account", "%s is not a registered panel (%s)" % (account, device_id))
        if row.key is None:
            return None
        try:
            return bytes.fromhex(row.key)
        except ValueError:
            raise ProtocolError("bad_key", "the key stored for %s is not hex" % device_id) from None

    def _refuse(self, reason: str, detail: str, peer: str, answer: bytes) -> bytes:
        self.metrics.inc("sia_rejected", reason=reason)
        log.warning("SIA frame from %s refused (%s): %s", peer or "?", reason, detail)
        return answer

    def _handle(self, raw: bytes, peer: str) -> bytes:
        now = self.clock()
        self.metrics.inc("sia_frames")
        try:
            verdict = judge(raw, self._key_for, now, self.window_past, self.window_future)
        except SQLAlchemyError as exc:
            # The account cannot be looked up: nothing is stored, so nothing is acked.
            self.metrics.inc("sia_errors")
            log.error("SIA frame from %s not checked, database unavailable: %s", peer or "?", exc)
            return nak(now)
        if verdict.message is None:
            assert verdict.reason is not None and verdict.answer is not None
            return self._refuse(verdict.reason, verdict.detail, peer, verdict.answer)
        message = verdict.message
        if not message.frame.length_ok:
            self.metrics.inc("sia_length_mismatch")
        digest = frame_digest(message, now)
        recent = self._recent.setdefault(message.account, OrderedDict())
        self._forget_old(recent, now)
        if digest in recent and next(reversed(recent)) != digest:
            # The panel has moved on since this frame was acked: not a retry but a replay.
            detail = "frame %s of %s came again after newer ones" % (message.frame.seq, message.account)
            return self._refuse("replayed", detail, peer, nak(now, message.frame))
        try:
            alerts = self._store(message, now, peer)
        except SQLAlchemyError as exc:
            # Nothing acked: the panel retries, or reports on its backup path.
            self.metrics.inc("sia_errors")
            log.error("could not store SIA frame %s of %s: %s", message.frame.seq, message.account, exc)
            return nak(now, message.frame)
        recent[digest] = now
        recent.move_to_end(digest)
        while len(recent) > RECENT_PER_ACCOUNT:
            recent.popitem(last=False)
        # Only now, after the commit: the ACK is the panel's licence to forget the message.
        answer = ack(message, now, verdict.key)
        self.metrics.inc("sia_acked")
        publish_alerts(self.publisher, self.topics, self.metrics, alerts)
        return answer

    def _forget_old(self, recent: OrderedDict[str, datetime], now: datetime) -> None:
        # A replay older than the timestamp window is refused as stale anyway.
        horizon = now - self.window_past - self.window_future
        while recent and next(iter(recent.values())) < horizon:
            recent.popitem(last=False)

    def _store(self, message: Message, now: datetime, peer: str) -> list[Alert]:
        device = panel_device_id(message.account)
        with self.db.write() as session:
            zones = session.execute(select(Device.zones).where(Device.id == device)).scalar_one_or_none()
            events = self._link_seen(session, device, now, peer)
            events += panel_events(message, now, zones)
            if not events:
                return []
            known = set(session.scalars(select(EventRow.id).where(EventRow.id.in_([e.id for e in events]))))
            fresh = [e for e in events if e.id not in known]
            if len(fresh) < len(events):
                self.metrics.inc("sia_duplicates", len(events) - len(fresh))
            if not fresh:
                return []
            result = store_events(session, fresh, now, self.deadlines)
            self.on_alerts(session, result.alerts, now)  # notifications, in the same transaction
        self.metrics.inc("events_ingested", len(result.new))
        self.metrics.inc("cases_opened", len(result.cases_opened))
        for ev in fresh:
            code = ev.data.get("code", ev.kind.value)
            log.info("panel %s: %s (%s) stored as %s", device, code, ev.kind.value, ev.id)
        return result.alerts

    def _link_seen(self, session: Session, device: str, now: datetime, peer: str) -> list[Event]:
        """Record that the panel was heard; a panel that was missing is back."""
        first = {"device_id": device, "last_seen_at": now, "missing": False, "peer": peer[:64]}
        if insert_ignore(session, PanelLink, first, [PanelLink.device_id]):
            return []
        link = session.get(PanelLink, device, with_for_update=True)
        if link is None:  # deleted between the two statements: nothing to settle
            return []
        was_missing = link.missing
        link.last_seen_at = now
        link.missing = False
        link.peer = peer[:64] or link.peer
        if not was_missing:
            return []
        log.warning("panel %s is back", device)
        return [link_event(device, Kind.DEVICE_BACK, now, now.isoformat(), {"peer": peer})]
