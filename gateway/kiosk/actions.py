"""Staff actions queued durably at the station and sent to the server (docs/kiosk.md).

An action is committed to ``kiosk.db`` (state ``queued``) before staff are told it is taken, and
leaves the queue only on the server's result for it, sent after the server's commit: the same
delivery rule as events. A result marks it ``applied`` or ``refused`` (the row stays as the
alarm's history on the board). ``ActionChannel`` runs on the uplink thread: it sends the queue
in order, one message in flight at a time (so two server instances can never apply them out of
order), only actions whose alarm the server already has, and sends again after
``mqtt.resend_after_s`` or a reconnect without a result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.counters import Counters
from gateway.kiosk.db import KioskDb
from protocol.actions import (
    MAX_ACTIONS,
    ActionResult,
    StationAction,
    decode_action_results,
    encode_actions,
)
from protocol.errors import ProtocolError
from protocol.event import format_time, parse_time
from protocol.topics import Topics

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    n       INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT    NOT NULL UNIQUE,
    event   TEXT    NOT NULL,
    verb    TEXT    NOT NULL,
    by      TEXT    NOT NULL,
    at      TEXT    NOT NULL,
    note    TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    reason  TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '',
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS actions_event ON actions (event);
CREATE INDEX IF NOT EXISTS actions_state ON actions (state, n)
"""
QUEUED, APPLIED, REFUSED = "queued", "applied", "refused"
_COLUMNS = "id, event, verb, by, at, note"


@dataclass(frozen=True, slots=True)
class ActionRow:
    """An action as the board shows it: what, who, when, and where it stands."""

    action: StationAction
    state: str  # queued | applied | refused
    reason: str = ""
    detail: str = ""


def _action(row: tuple[str, str, str, str, str, str]) -> StationAction:
    ident, event, verb, by, at, note = row
    return StationAction(ident, event, verb, by, parse_time(at), note)


class ActionQueue:
    def __init__(self, db: KioskDb) -> None:
        self.db = db
        db.ensure(SCHEMA)
        self._lock = threading.Lock()
        self._version = 0  # bumped on every change, so readers know when to look again

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def _bump(self) -> None:
        with self._lock:
            self._version += 1

    def add(self, action: StationAction) -> None:
        """Commit the action to the queue; ``DiskFull`` when the disk's reserve is reached."""
        self.db.check_room()
        with self.db.write() as conn:
            conn.execute("INSERT INTO actions (%s, state) VALUES (?, ?, ?, ?, ?, ?, ?)" % _COLUMNS,
                         (action.id, action.event, action.verb, action.by, format_time(action.at),
                          action.note, QUEUED))
        self._bump()

    def queued(self, limit: int = MAX_ACTIONS) -> list[StationAction]:
        """The oldest queued actions, in the order staff took them."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT %s FROM actions WHERE state = ? ORDER BY n LIMIT ?" % _COLUMNS,
                                (QUEUED, limit)).fetchall()
        return [_action(r) for r in rows]

    def count_queued(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM actions WHERE state = ?", (QUEUED,)).fetchone()[0])

    def settle(self, results: list[ActionResult], now: datetime) -> list[tuple[StationAction, ActionResult]]:
        """Apply the server's results; a result for an action no longer queued (a resend's
        second answer, an unknown id) changes nothing and is left out of the return."""
        done: list[tuple[StationAction, ActionResult]] = []
        with self.db.write() as conn:
            for result in results:
                row = conn.execute("SELECT %s FROM actions WHERE id = ? AND state = ?" % _COLUMNS,
                                   (result.id, QUEUED)).fetchone()
                if row is None:
                    continue
                detail = str(result.extra.get("detail", ""))[:500]
                conn.execute("UPDATE actions SET state = ?, reason = ?, detail = ?, done_at = ? WHERE id = ?",
                             (APPLIED if result.ok else REFUSED, result.reason, detail, format_time(now),
                              result.id))
                done.append((_action(row), result))
        if done:
            self._bump()
        return done

    def for_events(self, events: list[str]) -> dict[str, list[ActionRow]]:
        """Every action taken on these alarms, oldest first."""
        out: dict[str, list[ActionRow]] = {}
        if not events:
            return out
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT %s, state, reason, detail FROM actions WHERE event IN (%s) ORDER BY n"
                % (_COLUMNS, ",".join("?" * len(events))), events).fetchall()
        for row in rows:
            action = _action(row[:6])
            out.setdefault(action.event, []).append(ActionRow(action, row[6], row[7], row[8]))
        return out

    def forget_events(self, events: list[str]) -> None:
        """Drop the history of alarms that left the board; queued actions always stay."""
        if not events:
            return
        with self.db.write() as conn:
            marks = ",".join("?" * len(events))
            conn.execute("DELETE FROM actions WHERE state != ? AND event IN (%s)" % marks, [QUEUED, *events])


class ActionChannel:
    """The uplink's channel for station actions (``gateway.uplink.UplinkChannel``): every
    method but ``changed`` runs on the uplink thread."""

    def __init__(self, queue: ActionQueue, topics: Topics, gateway: str, counters: Counters, *,
                 deliverable: Callable[[str], bool],
                 on_results: Callable[[list[tuple[StationAction, ActionResult]]], None],
                 on_link: Callable[[bool], None], now: Callable[[], datetime],
                 resend_after_s: float) -> None:
        self.queue = queue
        self.gateway = gateway
        self.counters = counters
        self.deliverable = deliverable  # the server already has the alarm the action is about
        self.on_results = on_results
        self.on_link = on_link
        self.now = now
        self.resend_after_s = resend_after_s
        self.ack_topic = topics.actions_ack(gateway)
        self.out_topic = topics.actions(gateway)
        self.topics: tuple[str, ...] = (self.ack_topic,)
        self._up = False
        self._seen_version = -1
        self._queued: list[StationAction] = []
        self._inflight: set[str] = set()
        self._sent_at = 0.0

    def link_up(self) -> None:
        self._up = True
        self._inflight.clear()  # a reconnect sends again whatever has no result yet
        self.on_link(True)

    def link_down(self) -> None:
        self._up = False
        self.on_link(False)

    def received(self, topic: str, payload: bytes) -> None:
        try:
            results = decode_action_results(payload)
        except ProtocolError as exc:
            self.counters.inc("rejected.bad_action_ack")
            log.warning("bad action results: %s", exc)
            return
        done = self.queue.settle(results, self.now())
        self.counters.inc("actions.acked", len(done))
        self._inflight -= {r.id for r in results}
        for action, result in done:
            log.info("station action %s (%s on %s by %s): %s%s", action.id, action.verb, action.event,
                     action.by, "applied" if result.ok else "refused: ", result.reason)
        if done:
            self.on_results(done)

    def pump(self, publish: Callable[[str, bytes], bool], now: float) -> None:
        if not self._up:
            return
        version = self.queue.version
        if version != self._seen_version:
            self._seen_version = version
            self._queued = self.queue.queued()
            self._inflight &= {a.id for a in self._queued}
        if not self._queued:
            return
        if self._inflight and now - self._sent_at < self.resend_after_s:
            return  # one message in flight at a time keeps the order at the server
        batch: list[StationAction] = []
        for action in self._queued:
            if not self.deliverable(action.event):
                break  # its alarm is still on its way: later actions wait behind it
            batch.append(action)
        if not batch:
            return
        resend = bool(self._inflight)
        self._inflight = {a.id for a in batch}
        self._sent_at = now
        if publish(self.out_topic, encode_actions(batch)):
            self.counters.inc("actions.resent" if resend else "actions.sent", len(batch))
