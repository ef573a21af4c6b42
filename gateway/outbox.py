"""Durable outbox: SQLite in WAL mode, one writer connection, group commit.

Every event that reaches the gateway is committed here before the device hears ``stored``.
Rows leave only on the server's ``ack`` (delivery rule, docs/protocol.md), or by eviction of
non-alarm rows when the disk cap is reached. ``seq`` comes from AUTOINCREMENT, so it is
monotonic and never reused, even after the newest rows were deleted.

Duplicate detection lives in its own table (``seen``) written in the same transaction as the
event, so a node retransmission after a SIGKILL is still recognised; it outlives the event
row for the dedup window so a late retransmission is re-acked, never stored twice.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.errors import OutboxError
from protocol.errors import ProtocolError
from protocol.event import Event, encode_data, format_time, parse_time
from protocol.kinds import DEFAULT_PRIORITY, Kind, Priority

log = logging.getLogger(__name__)

LEVEL_STORED = 1
LEVEL_DELIVERED = 2
LEVEL_ACCEPTED = 3

_Seen = tuple[str, int, int]  # body, seq, ack level


def _stored_data(item: Incoming) -> tuple[str, str]:
    """The event's data as the server will take it, and why it was replaced (or ""). Data the
    server would refuse (NaN, text that is not Unicode, over the size limit) would make the event
    undeliverable, resent for ever; the event is what matters, so it keeps the reason instead."""
    try:
        return encode_data(item.data), ""
    except ProtocolError as exc:
        log.warning("%s %s: data the server would refuse replaced (%s)", item.device, item.kind.value, exc)
        return encode_data({"data_dropped": exc.reason}), exc.reason
_PRIORITY_RANK = {Priority.ALARM: 0, Priority.FAULT: 1, Priority.STATUS: 2}
_RANK_PRIORITY = {v: k for k, v in _PRIORITY_RANK.items()}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    device     TEXT    NOT NULL,
    device_seq INTEGER,
    kind       TEXT    NOT NULL,
    prio       INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    size       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_evict ON events (prio, seq);
CREATE TABLE IF NOT EXISTS seen (
    device     TEXT    NOT NULL,
    device_seq INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    level      INTEGER NOT NULL,
    seen_at    REAL    NOT NULL,
    PRIMARY KEY (device, device_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_age ON seen (seen_at);
CREATE TABLE IF NOT EXISTS counters (
    device  TEXT PRIMARY KEY,
    counter INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ble_states (
    device TEXT    NOT NULL,
    name   TEXT    NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (device, name)
) WITHOUT ROWID;
"""

# Fixed per-row overhead added to the payload size when enforcing the disk cap (index entries,
# page slack); rough on purpose, the cap is a safety net rather than an exact quota.
_ROW_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event as an adapter hands it in, before it has an outbox ``seq``.

    ``body`` is what identifies a retransmission (the raw line body for serial nodes); with
    ``device_seq`` and ``body`` both set, the same triple within the dedup window is a duplicate.
    """

    device: str
    kind: Kind
    at: datetime
    device_seq: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    body: str | None = None
    priority: Priority | None = None

    @property
    def effective_priority(self) -> Priority:
        return self.priority or DEFAULT_PRIORITY[self.kind]


@dataclass(frozen=True, slots=True)
class Appended:
    seq: int
    duplicate: bool
    level: int  # LEVEL_* the event has reached (for re-acking duplicates)
    data_replaced: str = ""  # why the event's data was stored as {"data_dropped": reason}, if it was


@dataclass(frozen=True, slots=True)
class BleMemory:
    """What the BLE tracker keeps of one device across a restart: the last accepted encryption
    counter (so a replay stays a replay) and the binary states last seen (so the first advert
    after a restart is compared with the state before it, not taken as a new baseline)."""

    device: str
    counter: int | None
    states: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settled:
    """A row removed on the server's ack; the adapter may tell the device ``delivered``."""

    seq: int
    device: str
    device_seq: int | None


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError("%s: cannot switch to WAL (got %s)" % (path, mode))
        return conn
    except (sqlite3.Error, OSError) as exc:
        raise OutboxError("cannot open outbox %s: %s" % (path, exc)) from None


def _row_event(gateway: str, row: tuple[Any, ...]) -> Event:
    seq, device, device_seq, kind, prio, at, data = row
    return Event(
        gateway=gateway,
        seq=seq,
        device=device,
        kind=Kind(kind),
        at=parse_time(at),
        priority=_RANK_PRIORITY[prio],
        device_seq=device_seq,
        data=json.loads(data),
    )


class Outbox:
    """The single writer. Use from one thread only (``OutboxWriter`` owns one)."""

    def __init__(
        self,
        path: Path,
        gateway: str,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        dedup_window_s: float = 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.gateway = gateway
        self.max_bytes = max_bytes
        self.dedup_window_s = dedup_window_s
        self.clock = clock
        self.evicted: dict[str, int] = {}
        self._conn = _connect(path)
        try:
            self._conn.executescript(_SCHEMA)
            self._synchronous = ""
            self._sync("NORMAL")
            total, count = self._conn.execute("SELECT total(size), count(*) FROM events").fetchone()
            self._bytes: int = int(total)
            self._count: int = int(count)
            self._last_seq = self._read_last_seq()
            self._prune_seen()
        except sqlite3.Error as exc:
            raise OutboxError("cannot prepare outbox %s: %s" % (path, exc)) from None
        self._appends_since_prune = 0

    def close(self) -> None:
        self._conn.close()

    def _sync(self, level: str) -> None:
        if level != self._synchronous:
            self._conn.execute("PRAGMA synchronous = %s" % level)
            self._synchronous = level

    # --- writes -------------------------------------------------------------------------

    def append(self, items: Sequence[Incoming]) -> list[Appended]:
        """Store a group of events in one transaction (one fsync); return their seqs.

        Alarm rows are committed with ``synchronous=FULL`` so a power cut right after the
        device heard ``stored`` cannot lose them.
        """
        if not items:
            return []
        now = self.clock()
        horizon = now - self.dedup_window_s
        has_alarm = any(i.effective_priority is Priority.ALARM for i in items)
        out: list[Appended] = []
        conn = self._conn
        try:
            self._sync("FULL" if has_alarm else "NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                known = self._seen_rows(items, horizon)
                seq = self._last_seq
                event_rows: list[tuple[Any, ...]] = []
                seen_rows: list[tuple[Any, ...]] = []
                for item in items:
                    key = None
                    if item.device_seq is not None and item.body is not None:
                        key = (item.device, item.device_seq)
                        prior = known.get(key)
                        if prior is not None and prior[0] == item.body:
                            out.append(Appended(prior[1], True, prior[2]))
                            continue
                    data, replaced = _stored_data(item)
                    at = format_time(item.at)
                    size = len(data) + len(item.device) + len(at) + _ROW_OVERHEAD
                    # Explicit seqs (one writer, inside its transaction) let the whole group go
                    # through executemany; AUTOINCREMENT still records the high-water mark.
                    seq += 1
                    event_rows.append((seq, item.device, item.device_seq, item.kind.value,
                                       _PRIORITY_RANK[item.effective_priority], at, data, size))
                    self._bytes += size
                    self._count += 1
                    if key is not None:
                        seen_rows.append((item.device, item.device_seq, item.body, seq, LEVEL_STORED, now))
                        known[key] = (item.body or "", seq, LEVEL_STORED)
                    out.append(Appended(seq, False, LEVEL_STORED, replaced))
                conn.executemany(
                    "INSERT INTO events (seq, device, device_seq, kind, prio, at, data, size)"
                    " VALUES (?,?,?,?,?,?,?,?)", event_rows)
                conn.executemany(
                    "INSERT OR REPLACE INTO seen (device, device_seq, body, seq, level, seen_at)"
                    " VALUES (?,?,?,?,?,?)", seen_rows)
                self._last_seq = seq
                if self._bytes > self.max_bytes:
                    self._evict()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._reload_totals()
                raise
        except sqlite3.Error as exc:
            raise OutboxError("append failed: %s" % exc) from None
        self._appends_since_prune += len(items)
        if self._appends_since_prune > 50_000:
            self._appends_since_prune = 0
            self._prune_seen()
        return out

    def _reload_totals(self) -> None:
        total, count = self._conn.execute("SELECT total(size), count(*) FROM events").fetchone()
        self._bytes, self._count = int(total), int(count)
        self._last_seq = self._read_last_seq()

    def _read_last_seq(self) -> int:
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
        top = self._conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        return max(int(row[0]) if row else 0, int(top or 0))

    def _seen_rows(self, items: Sequence[Incoming], horizon: float) -> dict[tuple[str, int], _Seen]:
        """Retransmission memory for the keyed items of a group, in a few indexed queries."""
        keys = list({(i.device, i.device_seq) for i in items
                     if i.device_seq is not None and i.body is not None})
        out: dict[tuple[str, int], _Seen] = {}
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            params: list[Any] = [x for key in chunk for x in key]
            rows = self._conn.execute(
                "SELECT s.device, s.device_seq, s.body, s.seq, s.level FROM (VALUES %s) AS k"
                " JOIN seen AS s ON s.device = k.column1 AND s.device_seq = k.column2"
                " WHERE s.seen_at >= ?" % ",".join(["(?,?)"] * len(chunk)),
                [*params, horizon]).fetchall()
            for device, device_seq, body, seq, level in rows:
                out[(device, device_seq)] = (body, seq, level)
        return out

    def _evict(self) -> None:
        """Free space by dropping the oldest status rows, then fault rows; alarms never."""
        for prio in (_PRIORITY_RANK[Priority.STATUS], _PRIORITY_RANK[Priority.FAULT]):
            while self._bytes > self.max_bytes:
                rows = self._conn.execute(
                    "SELECT seq, size FROM events WHERE prio=? ORDER BY seq LIMIT 256", (prio,)).fetchall()
                if not rows:
                    break
                freed_rows = []
                for seq, size in rows:
                    freed_rows.append((seq,))
                    self._bytes -= size
                    self._count -= 1
                    if self._bytes <= self.max_bytes:
                        break
                self._conn.executemany("DELETE FROM events WHERE seq=?", freed_rows)
                name = _RANK_PRIORITY[prio].value
                self.evicted[name] = self.evicted.get(name, 0) + len(freed_rows)
                log.warning("outbox over %d bytes: evicted %d %s rows", self.max_bytes, len(freed_rows), name)

    def settle(self, ranges: Iterable[tuple[int, int]]) -> list[Settled]:
        """Apply a server ack: remove the rows, remember ``delivered`` for re-acks."""
        out: list[Settled] = []
        conn = self._conn
        try:
            self._sync("NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for lo, hi in ranges:
                    rows = conn.execute(
                        "SELECT seq, device, device_seq, size FROM events WHERE seq BETWEEN ? AND ?",
                        (lo, hi)).fetchall()
                    if not rows:
                        continue
                    conn.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (lo, hi))
                    for seq, device, device_seq, size in rows:
                        self._bytes -= size
                        self._count -= 1
                        out.append(Settled(seq, device, device_seq))
                        if device_seq is not None:
                            conn.execute(
                                "UPDATE seen SET level=max(level, ?) WHERE device=? AND device_seq=?",
                                (LEVEL_DELIVERED, device, device_seq))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                self._reload_totals()
                raise
        except sqlite3.Error as exc:
            raise OutboxError("settle failed: %s" % exc) from None
        return out

    def move_past(self, high_water: int) -> None:
        """Continue above the server's high-water mark: it holds seqs up to ``high_water`` from
        this gateway id (an earlier install), so the next seq is ``max(next, high_water + 1)``.
        Kept in ``sqlite_sequence``, so a restart continues above it too; rows waiting to be
        sent keep their seqs (the server tells their content apart)."""
        if high_water <= self._last_seq:
            return
        conn = self._conn
        try:
            self._sync("FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                moved = conn.execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'events'", (high_water,)
                ).rowcount
                if not moved:  # no row ever inserted: sqlite_sequence has no line for us yet
                    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)",
                                 (high_water,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise OutboxError("cannot move the sequence past %d: %s" % (high_water, exc)) from None
        log.warning("the server holds seqs up to %d from this gateway id: continuing at %d",
                    high_water, high_water + 1)
        self._last_seq = high_water

    def raise_level(self, device: str, device_seq: int, level: int) -> None:
        try:
            self._conn.execute(
                "UPDATE seen SET level=max(level, ?) WHERE device=? AND device_seq=?",
                (level, device, device_seq))
        except sqlite3.Error as exc:
            raise OutboxError("level update failed: %s" % exc) from None

    def remember_ble(self, memory: Iterable[BleMemory]) -> None:
        """Store BLE counters and states in one transaction; a counter never goes back."""
        rows = list(memory)
        counters = [(m.device, m.counter) for m in rows if m.counter is not None]
        states = [(m.device, name, int(value)) for m in rows for name, value in m.states.items()]
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO counters (device, counter) VALUES (?, ?)"
                    " ON CONFLICT (device) DO UPDATE SET counter = max(counter, excluded.counter)", counters)
                conn.executemany(
                    "INSERT INTO ble_states (device, name, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (device, name) DO UPDATE SET value = excluded.value", states)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise OutboxError("BLE state update failed: %s" % exc) from None

    def load_ble(self) -> list[BleMemory]:
        try:
            counters = {d: int(c) for d, c in self._conn.execute("SELECT device, counter FROM counters")}
            states: dict[str, dict[str, bool]] = {}
            for device, name, value in self._conn.execute("SELECT device, name, value FROM ble_states"):
                states.setdefault(device, {})[name] = bool(value)
        except sqlite3.Error as exc:
            raise OutboxError("cannot read BLE states: %s" % exc) from None
        devices = sorted(counters.keys() | states.keys())
        return [BleMemory(d, counters.get(d), states.get(d, {})) for d in devices]

    def _prune_seen(self) -> None:
        self._conn.execute("DELETE FROM seen WHERE seen_at < ?", (self.clock() - self.dedup_window_s,))

    # --- reads --------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        return self._count

    def pending(self, after_seq: int = 0, limit: int = 500) -> list[Event]:
        return read_pending(self._conn, self.gateway, after_seq, limit)

    def last_seq(self) -> int:
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
        return int(row[0]) if row else 0


def read_pending(conn: sqlite3.Connection, gateway: str, after_seq: int, limit: int,
                 priority: Priority | None = None) -> list[Event]:
    if priority is None:
        rows = conn.execute(
            "SELECT seq, device, device_seq, kind, prio, at, data FROM events WHERE seq > ?"
            " ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
    else:
        rows = conn.execute(
            "SELECT seq, device, device_seq, kind, prio, at, data FROM events WHERE prio = ? AND seq > ?"
            " ORDER BY seq LIMIT ?", (_PRIORITY_RANK[priority], after_seq, limit)).fetchall()
    return [_row_event(gateway, r) for r in rows]


def read_range(conn: sqlite3.Connection, gateway: str, seqs: Iterable[int]) -> list[Event]:
    wanted = sorted(seqs)
    out: list[Event] = []
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        rows = conn.execute(
            "SELECT seq, device, device_seq, kind, prio, at, data FROM events WHERE seq IN (%s) ORDER BY seq"
            % ",".join("?" * len(chunk)), chunk).fetchall()
        out.extend(_row_event(gateway, r) for r in rows)
    return out


class OutboxReader:
    """A second connection for the uplink thread: WAL lets it read while the writer commits."""

    def __init__(self, path: Path, gateway: str) -> None:
        self.gateway = gateway
        self._conn = _connect(path, readonly=True)

    def pending(self, after_seq: int = 0, limit: int = 500, priority: Priority | None = None) -> list[Event]:
        try:
            return read_pending(self._conn, self.gateway, after_seq, limit, priority)
        except sqlite3.Error as exc:
            raise OutboxError("read failed: %s" % exc) from None

    def events(self, seqs: Iterable[int]) -> list[Event]:
        try:
            return read_range(self._conn, self.gateway, seqs)
        except sqlite3.Error as exc:
            raise OutboxError("read failed: %s" % exc) from None

    def close(self) -> None:
        self._conn.close()


def utcnow() -> datetime:
    return datetime.now(UTC)
