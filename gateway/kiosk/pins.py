"""Staff PINs at the station: stored hashed in ``kiosk.db`` (``protocol.pins`` format), set from
the CLI (``shouwang gateway pin set NAME``) or by a ``set_pin`` command from the server, and
checked here with no link. Wrong PINs are throttled per name and per client address; a signed-in
session ends after ``session_idle_s`` without a request. The clock is injected."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.kiosk.db import KioskDb
from gateway.kiosk.errors import BadInput, NotFound, Throttled, WrongPin
from protocol.errors import ProtocolError
from protocol.event import format_time
from protocol.pins import check_pin, check_staff_name, hash_pin, parse_pin_hash, verify_pin

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS staff_pins (
    name   TEXT NOT NULL PRIMARY KEY,
    hash   TEXT NOT NULL,
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL
) WITHOUT ROWID
"""
MAX_STAFF = 50
FREE_ATTEMPTS = 4  # wrong PINs before the lock starts
FIRST_LOCK_S = 30.0  # then 30 s, 60 s, 120 s ... up to MAX_LOCK_S
MAX_LOCK_S = 900.0
FORGET_AFTER_S = 3600.0  # failures this old no longer count
MAX_TRACKED = 1000
MAX_SESSIONS = 20


@dataclass(frozen=True, slots=True)
class Staff:
    name: str
    set_at: str
    set_by: str


class PinStore:
    def __init__(self, db: KioskDb) -> None:
        self.db = db
        db.ensure(SCHEMA)

    def set(self, name: str, pin_hash: str, *, set_by: str, now: datetime) -> None:
        """Store (or replace) a staff member's PIN hash; ``BadInput`` for a bad name or hash."""
        try:
            check_staff_name(name)
            parse_pin_hash(pin_hash)
        except ProtocolError as exc:
            raise BadInput(exc.detail or exc.reason, reason=exc.reason) from None
        with self.db.write() as conn:
            known = conn.execute("SELECT count(*) FROM staff_pins WHERE name != ?", (name,)).fetchone()[0]
            if known >= MAX_STAFF:
                raise BadInput("a station keeps at most %d staff PINs" % MAX_STAFF, reason="too_many_staff")
            conn.execute("INSERT INTO staff_pins (name, hash, set_at, set_by) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at,"
                         " set_by = excluded.set_by", (name, pin_hash, format_time(now), set_by[:64]))
        log.info("staff PIN for %s set by %s", name, set_by)

    def set_pin(self, name: str, pin: str, *, set_by: str, now: datetime) -> None:
        """Check the PIN's rule, hash it and store it (the CLI's path)."""
        try:
            check_pin(pin)
        except ProtocolError as exc:
            raise BadInput(exc.detail, reason=exc.reason) from None
        self.set(name, hash_pin(pin), set_by=set_by, now=now)

    def remove(self, name: str) -> None:
        with self.db.write() as conn:
            gone = conn.execute("DELETE FROM staff_pins WHERE name = ?", (name,)).rowcount
        if not gone:
            raise NotFound("no PIN for %s" % name, reason="no_such_staff")
        log.info("staff PIN for %s removed", name)

    def staff(self) -> list[Staff]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT name, set_at, set_by FROM staff_pins ORDER BY name").fetchall()
        return [Staff(*row) for row in rows]

    def hash_of(self, name: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT hash FROM staff_pins WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class Throttle:
    """Wrong PINs per key (a name, a client address): the first few are free, then each one
    locks the key for twice as long as the one before, up to 15 minutes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def wait_for(self, keys: list[str]) -> float:
        """Seconds until every key may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max((self._locked_for(self._keys.get(k), now) for k in keys), default=0.0)

    @staticmethod
    def _locked_for(f: _Failures | None, now: float) -> float:
        if f is None or f.count <= FREE_ATTEMPTS or now - f.last > FORGET_AFTER_S:
            return 0.0
        lock = min(MAX_LOCK_S, FIRST_LOCK_S * float(2 ** (f.count - FREE_ATTEMPTS - 1)))
        return max(0.0, f.last + lock - now)

    def failed(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                f = self._keys.pop(key, None)
                if f is None or now - f.last > FORGET_AFTER_S:
                    f = _Failures(0, now)
                f.count += 1
                f.last = now
                self._keys[key] = f
            while len(self._keys) > MAX_TRACKED:
                self._keys.popitem(last=False)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)


@dataclass(slots=True)
class _Session:
    name: str
    last_used: float


class StaffSignIn:
    """PIN sign-in and the sessions it opens (in memory: a restarted gateway signs staff out)."""

    def __init__(self, pins: PinStore, *, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.pins = pins
        self.idle_s = idle_s
        self.clock = clock
        self.throttle = Throttle(clock)
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        # Checked for a name without a PIN, so an unknown name costs as long as a wrong PIN.
        self._dummy = hash_pin(secrets.token_hex(8))

    def sign_in(self, name: str, pin: str, client: str) -> str:
        """A session token, or ``Throttled`` / ``WrongPin``."""
        keys = ["name:" + name, "client:" + client]
        wait = self.throttle.wait_for(keys)
        if wait > 0:
            raise Throttled(wait)
        stored = self.pins.hash_of(name)
        good = verify_pin(pin, stored if stored is not None else self._dummy) and stored is not None
        if not good:
            self.throttle.failed(keys)
            log.warning("wrong PIN for %r from %s", name, client)
            wait = self.throttle.wait_for(keys)
            if wait > 0:
                raise Throttled(wait)
            raise WrongPin("wrong name or PIN")
        self.throttle.succeeded(keys)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = _Session(name, self.clock())
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        log.info("%s signed in at the kiosk from %s", name, client)
        return token

    def session(self, token: str | None) -> str | None:
        """The staff member a live session belongs to; using it keeps it alive."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            s = self._sessions.get(token)
            if s is None:
                return None
            if now - s.last_used > self.idle_s:
                del self._sessions[token]
                return None
            s.last_used = now
            return s.name

    def peek(self, token: str | None) -> str | None:
        """Who a live session belongs to, without keeping it alive (the page's live stream)."""
        if not token:
            return None
        with self._lock:
            s = self._sessions.get(token)
            return s.name if s is not None and self.clock() - s.last_used <= self.idle_s else None

    def sign_out(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(token, None)

    def forget(self, name: str) -> None:
        """A removed or changed PIN ends that person's sessions."""
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.name == name]:
                del self._sessions[token]
