"""Passwords (scrypt) and bearer tokens (HMAC-SHA256 over a small JSON claim set)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from server.errors import AuthError

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return "scrypt$%d$%d$%d$%s$%s" % (_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _b64(salt), _b64(digest))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(digest)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def dummy_verify(password: str) -> None:
    """Spend the same time as a real check, so unknown user names do not answer faster."""
    verify_password(password, _dummy_hash())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    user_id: int
    username: str
    expires: float


class TokenSigner:
    def __init__(self, secret: str) -> None:
        # Derive a dedicated key so the server secret can serve other purposes safely.
        self._key = hmac.new(secret.encode("utf-8"), b"shouwang api token v1", hashlib.sha256).digest()

    def issue(self, user_id: int, username: str, now: float, ttl: float) -> str:
        body = _b64(
            json.dumps(
                {"uid": user_id, "sub": username, "exp": int(now + ttl)}, separators=(",", ":")
            ).encode("utf-8")
        )
        return body + "." + _b64(self._sign(body))

    def verify(self, token: str, now: float) -> Claims:
        body, _, sig = token.partition(".")
        try:
            good = hmac.compare_digest(_unb64(sig), self._sign(body))
        except ValueError:
            good = False
        if not body or not good:
            raise AuthError("invalid token", reason="bad_token")
        try:
            claims = json.loads(_unb64(body))
            result = Claims(int(claims["uid"]), str(claims["sub"]), float(claims["exp"]))
        except (ValueError, KeyError, TypeError):
            raise AuthError("invalid token", reason="bad_token") from None
        if result.expires < now:
            raise AuthError("token expired", reason="expired_token")
        return result

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
