"""Station staff PINs: the rule a PIN must follow and the one hash format the server and the
gateway share (docs/protocol.md, "Staff PINs"). Pure: hashlib and hmac only.

A PIN is hashed where it is typed (``shouwang gateway pin set`` at the station, the server's
REST route) and only the hash travels and rests: ``pbkdf2-sha256$<iterations>$<salt>$<digest>``,
salt and digest in unpadded base64url. The gateway checks a PIN against the hash with no link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import unicodedata

from protocol.errors import ProtocolError

SCHEME = "pbkdf2-sha256"
ITERATIONS = 120_000  # about 0.2 s on a Raspberry Pi 4: slow to guess, quick enough to sign in
MIN_ITERATIONS = 10_000  # a hash asking for fewer is refused: it would be cheap to guess offline
MAX_ITERATIONS = 2_000_000  # a hash asking for more is refused: it would stall a sign-in
PIN_DIGITS = (4, 8)
MAX_NAME = 32


def check_pin(pin: str) -> str:
    """The PIN as given, or ``ProtocolError`` saying what is wrong with it."""
    low, high = PIN_DIGITS
    if not (low <= len(pin) <= high) or not pin.isascii() or not pin.isdigit():
        raise ProtocolError("bad_pin", "a PIN is %d to %d digits" % PIN_DIGITS)
    if len(set(pin)) == 1:
        raise ProtocolError("weak_pin", "a PIN of one repeated digit is guessed first")
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {9}):
        raise ProtocolError("weak_pin", "a run of digits (1234, 9876) is guessed first")
    return pin


def check_staff_name(name: str) -> str:
    """A staff member's name as staff read it on the kiosk: 1-32 characters, no control
    characters, no leading or trailing blanks."""
    if not name or len(name) > MAX_NAME or name != name.strip():
        raise ProtocolError("bad_name", "a name is 1 to %d characters without outer blanks" % MAX_NAME)
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ProtocolError("bad_name", "a name may not hold control characters")
    return name


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ProtocolError("bad_pin_hash", "salt or digest is not base64url") from None


def hash_pin(pin: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The stored form of a PIN that passed ``check_pin``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("ascii"), salt, iterations)
    return "%s$%d$%s$%s" % (SCHEME, iterations, _b64(salt), _b64(digest))


def parse_pin_hash(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of a stored hash; ``ProtocolError`` for anything else."""
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != SCHEME or not parts[1].isdigit():
        raise ProtocolError("bad_pin_hash", "expected %s$<iterations>$<salt>$<digest>" % SCHEME)
    iterations = int(parts[1])
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ProtocolError("bad_pin_hash", "iterations must be %d to %d" % (MIN_ITERATIONS, MAX_ITERATIONS))
    salt, digest = _unb64(parts[2]), _unb64(parts[3])
    if len(salt) < 8 or len(digest) != 32:
        raise ProtocolError("bad_pin_hash", "salt of 8 bytes or more and a 32-byte digest expected")
    return iterations, salt, digest


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` is the PIN behind ``stored``; a malformed hash matches nothing."""
    try:
        iterations, salt, digest = parse_pin_hash(stored)
        raw = pin.encode("ascii")
    except (ProtocolError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", raw, salt, iterations), digest)
