"""The monthly test ("press every button"): staff start a run, and each allowed device is ticked
off by its first press, door movement or lid opening after the start (heartbeats and supervision
do not count). A run stays open until staff finish it; the last finished run is remembered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.kiosk.db import KioskDb
from gateway.kiosk.errors import Conflict
from gateway.outbox import Incoming
from protocol.event import format_time
from protocol.kinds import Kind

SCHEMA = """
CREATE TABLE IF NOT EXISTS test_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    started_by  TEXT NOT NULL,
    finished_at TEXT,
    finished_by TEXT
);
CREATE TABLE IF NOT EXISTS test_ticks (
    run    INTEGER NOT NULL,
    device TEXT    NOT NULL,
    at     TEXT    NOT NULL,
    kind   TEXT    NOT NULL,
    PRIMARY KEY (run, device)
) WITHOUT ROWID
"""
# What a person does to a device during the test; a heartbeat proves nothing about the button.
TICKS = frozenset({Kind.TEST, Kind.PANIC, Kind.PANIC_CANCEL, Kind.MEDICAL, Kind.FIRE, Kind.INTRUSION,
                   Kind.DOOR_OPEN, Kind.DOOR_CLOSE, Kind.TAMPER, Kind.TAMPER_RESTORE})


@dataclass(frozen=True, slots=True)
class MonthlyRun:
    id: int
    started_at: str
    started_by: str
    finished_at: str | None
    finished_by: str | None
    ticks: dict[str, tuple[str, str]]  # device -> (at, kind)

    def to_dict(self, devices: list[str]) -> dict[str, Any]:
        return {
            "id": self.id, "started_at": self.started_at, "started_by": self.started_by,
            "finished_at": self.finished_at, "finished_by": self.finished_by,
            "devices": [{"device": d, "at": self.ticks[d][0] if d in self.ticks else None,
                         "kind": self.ticks[d][1] if d in self.ticks else None} for d in devices],
            "done": sum(1 for d in devices if d in self.ticks), "total": len(devices),
        }


class MonthlyTest:
    def __init__(self, db: KioskDb) -> None:
        self.db = db
        db.ensure(SCHEMA)

    def _run(self, where: str) -> MonthlyRun | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT id, started_at, started_by, finished_at, finished_by FROM test_runs"
                               " WHERE %s ORDER BY id DESC LIMIT 1" % where).fetchone()
            if row is None:
                return None
            ticks = {d: (at, kind) for d, at, kind in
                     conn.execute("SELECT device, at, kind FROM test_ticks WHERE run = ?", (row[0],))}
        return MonthlyRun(row[0], row[1], row[2], row[3], row[4], ticks)

    def running(self) -> MonthlyRun | None:
        return self._run("finished_at IS NULL")

    def last_finished(self) -> MonthlyRun | None:
        return self._run("finished_at IS NOT NULL")

    def start(self, by: str, now: datetime) -> int:
        self.db.check_room()
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM test_runs WHERE finished_at IS NULL").fetchone():
                raise Conflict("a monthly test is already running", reason="test_running")
            cur = conn.execute("INSERT INTO test_runs (started_at, started_by) VALUES (?, ?)",
                               (format_time(now), by))
            return int(cur.lastrowid or 0)

    def finish(self, by: str, now: datetime) -> None:
        with self.db.write() as conn:
            done = conn.execute("UPDATE test_runs SET finished_at = ?, finished_by = ?"
                                " WHERE finished_at IS NULL", (format_time(now), by)).rowcount
        if not done:
            raise Conflict("no monthly test is running", reason="no_test_running")

    def observe(self, items: Iterable[Incoming], allowed: set[str]) -> bool:
        """Tick devices off the running test; True when one was ticked."""
        ticks = [(i.device, format_time(i.at), i.kind.value) for i in items
                 if i.kind in TICKS and i.device in allowed]
        if not ticks:
            return False
        with self.db.write() as conn:
            run = conn.execute("SELECT id FROM test_runs WHERE finished_at IS NULL").fetchone()
            if run is None:
                return False
            changed = 0
            for device, at, kind in ticks:
                changed += conn.execute("INSERT OR IGNORE INTO test_ticks (run, device, at, kind)"
                                        " VALUES (?,?,?,?)", (run[0], device, at, kind)).rowcount
        return changed > 0
