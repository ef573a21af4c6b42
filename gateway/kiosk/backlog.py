"""The outbox's backlog by priority, read through a read-only connection of the kiosk's own (WAL
lets it read while the outbox writer commits). The count is kept until the outbox changes (the
kiosk says so) or for a few seconds, so several open pages cost one query."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from gateway.kiosk.errors import StorageError

PRIORITIES = ("alarm", "fault", "status")  # the outbox's prio column: 0, 1, 2
CACHE_S = 2.0


class BacklogReader:
    def __init__(self, outbox_path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = outbox_path
        self.clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._cached: tuple[float, dict[str, int]] | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 2000")
        return self._conn

    def by_priority(self) -> dict[str, int]:
        """``{"alarm": n, "fault": n, "status": n}`` of rows not yet acked by the server."""
        with self._lock:
            now = self.clock()
            if self._cached is not None and now - self._cached[0] < CACHE_S:
                return dict(self._cached[1])
            try:
                conn = self._connection()
                rows = conn.execute("SELECT prio, count(*) FROM events GROUP BY prio").fetchall()
            except sqlite3.Error as exc:
                raise StorageError("cannot read the outbox backlog: %s" % exc) from None
            counts = dict.fromkeys(PRIORITIES, 0)
            for prio, n in rows:
                if 0 <= prio < len(PRIORITIES):
                    counts[PRIORITIES[prio]] = int(n)
            self._cached = (now, counts)
            return dict(counts)

    def pending_alarms(self) -> list[tuple[int, str, int | None, str, str, str]]:
        """Alarm rows the server has not acked yet: (seq, device, device_seq, kind, at, data)."""
        with self._lock:
            try:
                rows = self._connection().execute(
                    "SELECT seq, device, device_seq, kind, at, data FROM events WHERE prio = 0 ORDER BY seq"
                ).fetchall()
            except sqlite3.Error as exc:
                raise StorageError("cannot read the outbox: %s" % exc) from None
        return [(int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), str(r[5])) for r in rows]

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def still_pending(self, seqs: Iterable[int]) -> set[int]:
        """Which of these outbox rows the server has not acked yet."""
        wanted = sorted(set(seqs))
        out: set[int] = set()
        with self._lock:
            try:
                conn = self._connection()
                for i in range(0, len(wanted), 500):
                    chunk = wanted[i:i + 500]
                    out.update(int(r[0]) for r in conn.execute(
                        "SELECT seq FROM events WHERE seq IN (%s)" % ",".join("?" * len(chunk)), chunk))
            except sqlite3.Error as exc:
                raise StorageError("cannot read the outbox: %s" % exc) from None
        return out

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
