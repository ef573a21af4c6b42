"""Signing in: the password check, throttling per user name and per address, and the audit.

Every attempt is a row in ``sign_ins`` (user name as typed, address, result). The same rows
are the throttle's memory, so every server instance on one database applies the same limits
and a restart forgets nothing. After ``failures`` failed attempts in a row (counted since the
key's last success, over the last day) a key is locked for ``base`` seconds, doubling with
each further failure up to ``cap``. A locked attempt checks no password; only the first one
of a lock is written down, so a flood of them cannot crowd the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.auth import dummy_verify, verify_password
from server.db.engine import Database
from server.db.models import SignIn, User
from server.errors import AuthError, ServerError

OK, BAD_PASSWORD, UNKNOWN_USER, DISABLED, THROTTLED = (
    "ok",
    "bad_password",
    "unknown_user",
    "disabled",
    "throttled",
)
FAILURES = (BAD_PASSWORD, UNKNOWN_USER, DISABLED)
RESULTS = (OK, *FAILURES, THROTTLED)
MEMORY = timedelta(days=1)


class TooManyAttempts(ServerError):
    """Sign-in refused without checking the password (HTTP 429 with Retry-After)."""

    reason = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed sign-ins; try again in %d s" % retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Throttle:
    failures: int  # failed attempts in a row before the first lock
    base: float  # seconds of the first lock
    cap: float  # longest lock

    def lock_seconds(self, failures: int) -> float:
        if failures < self.failures:
            return 0.0
        return float(min(self.base * 2 ** min(failures - self.failures, 32), self.cap))


# An address is shared by a duty room behind one router: it gets more room than one name.
PER_USER = Throttle(failures=5, base=30.0, cap=900.0)
PER_ADDRESS = Throttle(failures=10, base=30.0, cap=900.0)


def _locked_until(
    session: Session, column: InstrumentedAttribute[str], value: str, rule: Throttle, now: datetime
) -> datetime | None:
    last_ok = select(func.max(SignIn.at)).where(column == value, SignIn.result == OK).scalar_subquery()
    count, last = session.execute(
        select(func.count(), func.max(SignIn.at)).where(
            column == value,
            SignIn.result.in_(FAILURES),
            SignIn.at > now - MEMORY,
            SignIn.at > func.coalesce(last_ok, now - MEMORY),
        )
    ).one()
    seconds = rule.lock_seconds(int(count))
    if not seconds or last is None:
        return None
    until: datetime = last + timedelta(seconds=seconds)
    return until if until > now else None


def _already_refused(session: Session, username: str, address: str) -> bool:
    """Whether the latest attempt of this name from this address was itself refused."""
    latest = session.scalars(
        select(SignIn.result)
        .where(SignIn.username == username, SignIn.address == address)
        .order_by(SignIn.at.desc(), SignIn.id.desc())
        .limit(1)
    ).first()
    return latest == THROTTLED


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    username: str


def sign_in(db: Database, username: str, password: str, address: str, now: datetime) -> SignedIn:
    """The user, or AuthError (wrong name or password, disabled) or TooManyAttempts."""
    name, address = username[:64], address[:64]
    with db.read() as s:
        locks = [
            _locked_until(s, SignIn.username, name, PER_USER, now),
            _locked_until(s, SignIn.address, address, PER_ADDRESS, now),
        ]
        until = max((t for t in locks if t is not None), default=None)
        refused_before = until is not None and _already_refused(s, name, address)
        user = s.scalars(select(User).where(User.username == username)).one_or_none()
    if until is not None:
        if not refused_before:
            _record(db, name, user.id if user is not None else None, address, THROTTLED, now)
        raise TooManyAttempts(max(1, math.ceil((until - now).total_seconds())))
    if user is None:
        dummy_verify(password)
        result = UNKNOWN_USER
    elif not verify_password(password, user.password_hash):
        result = BAD_PASSWORD
    else:
        result = OK if user.active else DISABLED
    _record(db, name, user.id if user is not None else None, address, result, now)
    if result != OK or user is None:
        raise AuthError("wrong username or password", reason="bad_credentials")
    return SignedIn(user.id, user.username)


def _record(
    db: Database, username: str, user_id: int | None, address: str, result: str, now: datetime
) -> None:
    with db.write() as s:
        s.add(SignIn(at=now, username=username, user_id=user_id, address=address, result=result))
