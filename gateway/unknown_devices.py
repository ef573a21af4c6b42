"""Devices heard that are not on the allowlist, kept for pairing.

The list lives in memory (bounded: neighbours' sensors must not grow it without end) and in
the ``unknown_devices`` table of ``devices.db`` in the data directory, so ``shouwang gateway
pair`` and ``devices`` in another process see what the running gateway heard, and a restart
keeps it. The table is off the hot path: the gateway writes it from its tick thread when the
list changed, never from the outbox writer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sqlite_utils import Database

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

MAX_UNKNOWN = 500
DB_FILE = "devices.db"
TABLE = "unknown_devices"
_COLUMNS = {"device": str, "transport": str, "first_seen": float, "last_seen": float, "count": int,
            "detail": str}


@dataclass(frozen=True, slots=True)
class Sighting:
    device: str
    transport: str
    first_seen: float
    last_seen: float
    count: int
    detail: str = ""


def _open(path: Path, *, readonly: bool) -> Database:
    try:
        if readonly:
            conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        db = Database(conn, execute_plugins=False)
        if not readonly:
            db.table(TABLE).create(_COLUMNS, pk="device", not_null=set(_COLUMNS), if_not_exists=True)
        return db
    except (sqlite3.Error, OSError) as exc:
        raise GatewayError("cannot open %s: %s" % (path, exc)) from None


def read_sightings(data_dir: Path) -> list[Sighting]:
    """What a gateway using ``data_dir`` has heard, newest first (for the CLI tools)."""
    path = data_dir / DB_FILE
    if not path.exists():
        return []
    db = _open(path, readonly=True)
    try:
        if not db.table(TABLE).exists():
            return []
        return [Sighting(**row) for row in db.table(TABLE).rows_where(order_by="last_seen DESC")]
    except sqlite3.Error as exc:
        raise GatewayError("cannot read %s: %s" % (path, exc)) from None
    finally:
        db.close()


class UnknownDevices:
    def __init__(self, data_dir: Path | None = None, *, clock: Callable[[], float] = time.time,
                 limit: int = MAX_UNKNOWN) -> None:
        self.path = data_dir / DB_FILE if data_dir is not None else None
        self.clock = clock
        self.limit = limit
        self._lock = threading.Lock()
        self._seen: dict[str, Sighting] = {}
        self._changed: set[str] = set()  # devices whose row must be written or deleted
        self._db: Database | None = None

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
        self._db = _open(self.path, readonly=False)
        try:
            rows = [Sighting(**row) for row in self._db.table(TABLE).rows_where(order_by="last_seen DESC",
                                                                        limit=self.limit)]
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
            upsert = [asdict(self._seen[d]) for d in changed if d in self._seen]
            gone = [d for d in changed if d not in self._seen]
        if not changed:
            return
        db = self._db
        try:
            if upsert:
                db.table(TABLE).upsert_all(upsert, pk="device")
            if gone:
                db.table(TABLE).delete_where("device IN (%s)" % ",".join("?" * len(gone)), gone)
        except sqlite3.Error as exc:
            with self._lock:
                self._changed |= changed
            log.warning("cannot write %s: %s", self.path, exc)

    def close(self) -> None:
        self.save()
        if self._db is not None:
            self._db.close()
            self._db = None
