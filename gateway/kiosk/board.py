"""The alarm board: every alarm the station stored, where it stands (stored at the station,
delivered to the duty room, accepted and by whom: the ack levels the device gets) and whether
staff closed it. Kept in ``kiosk.db`` so a restart keeps the board.

Repeats of an open alarm (the same device and alarm class, as the server groups them into one
case) join its row rather than adding rows: the board shows one card per case, with the count
and the latest press. A device taking its alarm back (``panic_cancel``) closes its card.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.kiosk.db import KioskDb
from gateway.outbox import LEVEL_ACCEPTED, LEVEL_DELIVERED, LEVEL_STORED, Appended, Incoming
from protocol.event import event_id, format_time
from protocol.kinds import ALARM_CLASS, Kind, Priority

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    seq             INTEGER PRIMARY KEY,
    last_seq        INTEGER NOT NULL,
    device          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    class           TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    last_at         TEXT    NOT NULL,
    repeats         INTEGER NOT NULL DEFAULT 0,
    device_seq      INTEGER,
    last_device_seq INTEGER,
    level           INTEGER NOT NULL,
    accepted_by     TEXT    NOT NULL DEFAULT '',
    closed          TEXT    NOT NULL DEFAULT '',
    closed_by       TEXT    NOT NULL DEFAULT '',
    closed_at       TEXT
);
CREATE INDEX IF NOT EXISTS alarms_open ON alarms (closed, device, class)
"""
LEVELS = {LEVEL_STORED: "stored", LEVEL_DELIVERED: "delivered", LEVEL_ACCEPTED: "accepted"}
KEEP_DAYS = 30
KEEP_ROWS = 500
HANDLED, FALSE_ALARM, CANCELLED, CLOSED = "handled", "false_alarm", "cancelled", "closed"
_COLUMNS = ("seq, last_seq, device, kind, class, at, last_at, repeats, device_seq, last_device_seq, level,"
            " accepted_by, closed, closed_by, closed_at")


@dataclass(frozen=True, slots=True)
class Alarm:
    seq: int
    last_seq: int
    device: str
    kind: str
    alarm_class: str
    at: str
    last_at: str
    repeats: int
    device_seq: int | None
    last_device_seq: int | None
    level: int
    accepted_by: str
    closed: str
    closed_by: str
    closed_at: str | None

    @property
    def open(self) -> bool:
        return not self.closed

    def to_dict(self, gateway: str) -> dict[str, Any]:
        return {
            "id": event_id(gateway, self.seq), "seq": self.seq, "device": self.device, "kind": self.kind,
            "at": self.at, "last_at": self.last_at, "repeats": self.repeats,
            "level": LEVELS.get(self.level, "stored"), "accepted_by": self.accepted_by,
            "closed": self.closed, "closed_by": self.closed_by, "closed_at": self.closed_at,
        }


def is_board_alarm(item: Incoming) -> bool:
    """What the board shows: alarm-priority events that open or close a case."""
    return item.effective_priority is Priority.ALARM and ALARM_CLASS.get(item.kind) is not None


class Board:
    def __init__(self, db: KioskDb, gateway: str) -> None:
        self.db = db
        self.gateway = gateway
        db.ensure(SCHEMA)
        self._lock = threading.Lock()
        with db.read() as conn:
            rows = conn.execute("SELECT seq FROM alarms WHERE level < ?", (LEVEL_DELIVERED,)).fetchall()
        self._undelivered: set[int] = {int(r[0]) for r in rows}

    # --- what happened -------------------------------------------------------------------------

    def record(self, items: Iterable[tuple[Incoming, Appended]]) -> list[int]:
        """New alarm events, after the outbox committed them; the seqs of new or repeated cards.
        An event already on the board is skipped, so recording again is harmless."""
        touched: list[int] = []
        with self.db.write() as conn:
            for item, appended in items:
                if not is_board_alarm(item) or appended.duplicate:
                    continue
                if conn.execute("SELECT 1 FROM alarms WHERE device = ? AND seq <= ? AND last_seq >= ?",
                                (item.device, appended.seq, appended.seq)).fetchone():
                    continue  # on the board already: an update tried again after a failure
                alarm_class = ALARM_CLASS[item.kind] or ""
                at = format_time(item.at)
                row = conn.execute("SELECT seq FROM alarms WHERE closed = '' AND device = ? AND class = ?"
                                   " ORDER BY seq DESC LIMIT 1", (item.device, alarm_class)).fetchone()
                if item.kind is Kind.PANIC_CANCEL:
                    if row is not None:
                        conn.execute("UPDATE alarms SET closed = ?, closed_by = ?, closed_at = ?"
                                     " WHERE seq = ?", (CANCELLED, item.device, at, row[0]))
                        touched.append(int(row[0]))
                    continue
                if row is not None:
                    conn.execute("UPDATE alarms SET last_seq = ?, last_at = ?, repeats = repeats + 1,"
                                 " last_device_seq = ? WHERE seq = ?",
                                 (appended.seq, at, item.device_seq, row[0]))
                    touched.append(int(row[0]))
                    continue
                conn.execute("INSERT INTO alarms (seq, last_seq, device, kind, class, at, last_at,"
                             " device_seq, last_device_seq, level) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (appended.seq, appended.seq, item.device, item.kind.value, alarm_class, at, at,
                              item.device_seq, item.device_seq, LEVEL_STORED))
                touched.append(appended.seq)
                with self._lock:
                    self._undelivered.add(appended.seq)
        return touched

    def delivered(self, seqs: Iterable[int]) -> list[int]:
        """The server acked these outbox rows: their cards are ``delivered``."""
        with self._lock:
            hit = sorted(self._undelivered.intersection(seqs))
        if not hit:
            return []
        with self.db.write() as conn:
            conn.executemany("UPDATE alarms SET level = max(level, ?) WHERE seq = ?",
                             [(LEVEL_DELIVERED, s) for s in hit])
        with self._lock:
            self._undelivered.difference_update(hit)
        return hit

    def covers(self, seq: int, device: str) -> bool:
        """Whether ``seq`` is one of the presses a card of ``device`` holds (a repeat)."""
        with self.db.read() as conn:
            return conn.execute("SELECT 1 FROM alarms WHERE device = ? AND seq <= ? AND last_seq >= ?",
                                (device, seq, seq)).fetchone() is not None

    def undelivered(self) -> list[int]:
        with self._lock:
            return sorted(self._undelivered)

    def is_delivered(self, event: str) -> bool:
        """Whether the server has the alarm behind ``event`` (one not on the board: assume so,
        and let the server say whether it knows it)."""
        gateway, _, seq = event.rpartition(":")
        if gateway != self.gateway or not seq.isdigit():
            return True
        with self._lock:
            return int(seq) not in self._undelivered

    @staticmethod
    def _card(conn: sqlite3.Connection, seq: int | None, device: str | None,
              device_seq: int | None) -> int | None:
        """The card an ack level names, by the event's outbox seq or by the device's own seq."""
        if seq is not None:
            row = conn.execute("SELECT seq FROM alarms WHERE seq <= ? AND last_seq >= ? ORDER BY seq DESC"
                               " LIMIT 1", (seq, seq)).fetchone()
        elif device is not None and device_seq is not None:
            row = conn.execute("SELECT seq FROM alarms WHERE device = ? AND (device_seq = ? OR"
                               " last_device_seq = ?) ORDER BY seq DESC LIMIT 1",
                               (device, device_seq, device_seq)).fetchone()
        else:
            row = None
        return None if row is None else int(row[0])

    def accepted(self, by: str, *, seq: int | None = None, device: str | None = None,
                 device_seq: int | None = None, by_server: bool = True) -> int | None:
        """A person accepted the case (the ``accepted`` ack level), found by the event's outbox
        seq or by the device's own seq; the card's seq, or None when no card matches. Accepted
        at the server (``by_server``), the alarm is there: the card counts as delivered too."""
        with self.db.write() as conn:
            card = self._card(conn, seq, device, device_seq)
            if card is None:
                return None
            conn.execute("UPDATE alarms SET level = max(level, ?), accepted_by = CASE WHEN accepted_by = ''"
                         " OR level < ? THEN ? ELSE accepted_by END WHERE seq = ?",
                         (LEVEL_ACCEPTED, LEVEL_ACCEPTED, by, card))
        if by_server:
            with self._lock:
                self._undelivered.discard(card)
        return card

    def closed_at_server(self, how: str, by: str, at: datetime, *, seq: int | None = None,
                         device: str | None = None, device_seq: int | None = None) -> int | None:
        """The duty room closed the case (the ``closed`` ack level): the card leaves the open
        alarms, unless it was closed here already; the card's seq, or None when none matches."""
        with self.db.write() as conn:
            card = self._card(conn, seq, device, device_seq)
            if card is None:
                return None
            conn.execute("UPDATE alarms SET closed = ?, closed_by = ?, closed_at = ?"
                         " WHERE seq = ? AND closed = ''", (how, by, format_time(at), card))
        with self._lock:
            self._undelivered.discard(card)
        return card

    def close(self, seq: int, how: str, by: str, at: datetime) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE alarms SET closed = ?, closed_by = ?, closed_at = ?"
                         " WHERE seq = ? AND closed = ''", (how, by, format_time(at), seq))

    # --- reading ---------------------------------------------------------------------------------

    def get(self, seq: int) -> Alarm | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT %s FROM alarms WHERE seq = ?" % _COLUMNS, (seq,)).fetchone()
        return Alarm(*row) if row else None

    def cards(self, limit: int = 40) -> list[Alarm]:
        """Open alarms (newest first), then the most recent closed ones."""
        with self.db.read() as conn:
            open_rows = conn.execute("SELECT %s FROM alarms WHERE closed = '' ORDER BY seq DESC LIMIT ?"
                                     % _COLUMNS, (limit,)).fetchall()
            closed_rows = conn.execute("SELECT %s FROM alarms WHERE closed != '' ORDER BY seq DESC LIMIT ?"
                                       % _COLUMNS, (max(0, limit - len(open_rows)),)).fetchall()
        return [Alarm(*r) for r in open_rows + closed_rows]

    def prune(self, now: datetime) -> list[str]:
        """Forget closed alarms older than 30 days beyond the newest 500; their event ids."""
        horizon = format_time(now - timedelta(days=KEEP_DAYS))
        with self.db.write() as conn:
            rows = conn.execute("SELECT seq FROM alarms WHERE closed != '' AND at < ? AND seq < ("
                                "SELECT coalesce(min(seq), 0) FROM (SELECT seq FROM alarms ORDER BY seq DESC"
                                " LIMIT ?))", (horizon, KEEP_ROWS)).fetchall()
            conn.executemany("DELETE FROM alarms WHERE seq = ?", rows)
        return [event_id(self.gateway, int(r[0])) for r in rows]
