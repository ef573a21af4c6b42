"""``kiosk.db`` in the gateway's data directory: the board, queued actions, staff PINs and test
runs. One connection behind one lock, WAL and ``synchronous=FULL`` (a queued action has been
promised to staff), every sqlite error translated into a ``KioskError``.

The file is separate from ``outbox.db`` so the kiosk never holds the outbox's write lock while
an alarm commits, and it has a ceiling of its own (``PRAGMA max_page_count``): the kiosk can
fill its share, never the room the outbox keeps for alarms. Writes that staff ask for (actions,
pairing, PINs) are also refused while the disk's free space is under ``reserve_mb``.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.kiosk.errors import DiskFull, StorageError

log = logging.getLogger(__name__)

DB_FILE = "kiosk.db"
MB = 1024 * 1024


def free_bytes(path: Path) -> int:
    """Free space on the file system holding ``path`` (for an unprivileged process)."""
    return shutil.disk_usage(path).free


class KioskDb:
    def __init__(self, data_dir: Path, *, max_bytes: int = 32 * MB, reserve_bytes: int = 64 * MB) -> None:
        self.path = data_dir / DB_FILE
        self.reserve_bytes = reserve_bytes
        self._lock = threading.RLock()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            page = int(conn.execute("PRAGMA page_size").fetchone()[0])
            conn.execute("PRAGMA max_page_count = %d" % max(16, max_bytes // page))
        except sqlite3.Error as exc:
            raise StorageError("cannot open %s: %s" % (self.path, exc)) from None
        except OSError as exc:
            raise StorageError("cannot open %s: %s" % (self.path, exc.strerror or exc)) from None
        self._conn = conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def ensure(self, schema: str) -> None:
        """Create a module's tables (idempotent; the CLI and the running gateway share the file)."""
        with self.write() as conn:
            for statement in schema.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def check_room(self) -> None:
        """``DiskFull`` while the disk's free space is under the room reserved for alarms."""
        try:
            free = free_bytes(self.path.parent)
        except OSError as exc:
            raise StorageError("cannot read the free space of %s: %s" % (self.path.parent, exc)) from None
        if free < self.reserve_bytes:
            raise DiskFull("the station's disk has %d MB free; %d MB are kept for alarms"
                           % (free // MB, self.reserve_bytes // MB))

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; committed on leaving, rolled back on an error."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise _translate(exc, self.path) from None
            except BaseException:
                _rollback(conn)
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from None


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # no transaction left to roll back (SQLite ends some on a full disk itself)


def _translate(exc: sqlite3.Error, path: Path) -> DiskFull | StorageError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "full" in str(exc).lower():
        log.error("%s is full: %s", path, exc)
        return DiskFull("the kiosk's storage is full (%s)" % exc)
    log.error("%s: %s", path, exc)
    return StorageError("kiosk storage failed: %s" % exc)
