"""Devices heard that are not on the allowlist, kept for pairing.

The list lives in memory (bounded: neighbours' sensors must not grow it without end) and in
the ``unknown_devices`` table of ``devices.db`` in the data directory, so ``shouwang gateway
pair`` and ``devices`` in another process see what the running gateway heard (they read it
with sqlite-utils, ``gateway.tools``), and a restart keeps it. The table is off the hot path:
the gateway writes it from its tick thread when the list changed, never from the outbox
writer, with plain sqlite3, which keeps sqlite-utils' imports out of the daemon's memory.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

MAX_UNKNOWN = 500
DB_FILE = "devices.db"
TABLE = "unknown_devices"
SCHEMA = """
CREATE TABLE IF NOT EXISTS unknown_devices (
    device     TEXT    NOT NULL PRIMARY KEY,
    transport  TEXT    NOT NULL,
    first_seen REAL    NOT NULL,
    last_seen  REAL    NOT NULL,
    count      INTEGER NOT NULL,
    detail     TEXT    NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Sighting:
    device: str
    transport: str
    first_seen: float
    last_seen: float
    count: int
    detail: str = ""


COLUMNS = tuple(f.name for f in fields(Sighting))
_SELECT = "SELECT %s FROM %s ORDER BY last_seen DESC LIMIT ?" % (", ".join(COLUMNS), TABLE)
_UPSERT = "INSERT OR REPLACE INTO %s (%s) VALUES (%s)" % (TABLE, ", ".join(COLUMNS),
                                                         ",".join("?" * len(COLUMNS)))


def _open(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(SCHEMA)
        return conn
    except (sqlite3.Error, OSError) as exc:
        raise GatewayError("cannot open %s: %s" % (path, exc)) from None


class UnknownDevices:
    def __init__(self, data_dir: Path | None = None, *, clock: Callable[[], float] = time.time,
                 limit: int = MAX_UNKNOWN) -> None:
        self.path = data_dir / DB_FILE if data_dir is not None else None
        self.clock = clock
        self.limit = limit
        self._lock = threading.Lock()
        self._seen: dict[str, Sighting] = {}
        self._changed: set[str] = set()  # devices whose row must be written or deleted
        self._db: sqlite3.Connection | None = None

    # --- the list --------------------------------------------------------------------------

    def saw(self, device: str, transport: str, detail: str = "") -> Sighting:
        now = self.clock()
        with self._lock:
            prior = self._seen.get(device)
            if prior is None:
                seen = Sighting(device, transport, now, now, 1, detail)
            else:
                seen = replace(prior, last_seen=now, count=prior.count + 1, detail=detail or prior.detail)
            self._seen[device] = seen
            self._changed.add(device)
            if len(self._seen) > self.limit:
                stalest = min(self._seen.values(), key=lambda u: u.last_seen)
                del self._seen[stalest.device]
                self._changed.add(stalest.device)
            return seen

    def forget(self, devices: Iterable[str]) -> None:
        """Devices that are now allowed (paired) are no longer unknown."""
        with self._lock:
            for device in devices:
                if self._seen.pop(device, None) is not None:
                    self._changed.add(device)

    def seen(self) -> list[Sighting]:
        """Newest first."""
        with self._lock:
            return sorted(self._seen.values(), key=lambda s: -s.last_seen)

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    @property
    def dirty(self) -> bool:
        with self._lock:
            return bool(self._changed)

    # --- the table -------------------------------------------------------------------------

    def open(self) -> None:
        """Open the table and take over what an earlier run heard."""
        if self.path is None:
            return
        self._db = _open(self.path)
        try:
            rows = [Sighting(*row) for row in self._db.execute(_SELECT, (self.limit,))]
        except sqlite3.Error as exc:
            raise GatewayError("cannot read %s: %s" % (self.path, exc)) from None
        with self._lock:
            for row in rows:
                self._seen.setdefault(row.device, row)

    def save(self) -> None:
        """Write what changed since the last save; a failure is logged and retried next time."""
        if self._db is None:
            return
        with self._lock:
            changed, self._changed = self._changed, set()
            upsert = [astuple(self._seen[d]) for d in changed if d in self._seen]
            gone = [d for d in changed if d not in self._seen]
        if not changed:
            return
        db = self._db
        try:
            with db:
                db.executemany(_UPSERT, upsert)
                db.executemany("DELETE FROM %s WHERE device = ?" % TABLE, [(d,) for d in gone])
        except sqlite3.Error as exc:
            with self._lock:
                self._changed |= changed
            log.warning("cannot write %s: %s", self.path, exc)

    def close(self) -> None:
        self.save()
        if self._db is not None:
            self._db.close()
            self._db = None
