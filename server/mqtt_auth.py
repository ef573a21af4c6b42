"""Gateway credentials issued by the server, and the Mosquitto password and ACL files for them.

Each gateway logs in to the broker as its own id with a password the server issued once. The
server keeps only the hash, already in Mosquitto's format (PBKDF2-SHA512, ``$7$``), so it can
write the password file at any time without knowing any password. The ACL lets gateway X
publish only under ``{prefix}/gw/X/`` and read only its own ack and commands.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Gateway

ITERATIONS = 101  # what mosquitto_passwd 2.0 uses; the passwords are long random tokens


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, ITERATIONS, 64)
    return "$7$%d$%s$%s" % (ITERATIONS, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def issue_credentials(gateway: Gateway) -> str:
    """A new password for the gateway (the old one stops working once the files are rewritten)."""
    password = secrets.token_urlsafe(24)
    gateway.secret_hash = mosquitto_hash(password)
    return password


def acl_text(prefix: str, gateways: list[str], server_user: str | None) -> str:
    lines = ["# Written by the Shouwang server; edits are overwritten.", ""]
    if server_user:
        lines += ["user %s" % server_user, "topic readwrite %s/#" % prefix, "topic read $SYS/#", ""]
    for gw in gateways:
        base = "%s/gw/%s" % (prefix, gw)
        lines += [
            "user %s" % gw,
            "topic write %s/events" % base,
            "topic readwrite %s/status" % base,
            "topic write %s/cmd/result" % base,
            "topic read %s/ack" % base,
            "topic read %s/cmd" % base,
            "",
        ]
    return "\n".join(lines)


def passwd_text(entries: list[tuple[str, str]]) -> str:
    return "".join("%s:%s\n" % (user, hashed) for user, hashed in entries)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_auth_files(
    session: Session,
    directory: Path,
    prefix: str,
    server_user: str | None = None,
    server_password: str | None = None,
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` for Mosquitto; reload the broker (SIGHUP) to apply them."""
    directory.mkdir(parents=True, exist_ok=True)
    gateways = list(
        session.scalars(select(Gateway).where(Gateway.secret_hash.is_not(None)).order_by(Gateway.id))
    )
    entries = [(gw.id, gw.secret_hash or "") for gw in gateways]
    if server_user and server_password:
        entries.insert(0, (server_user, mosquitto_hash(server_password)))
    passwd, acl = directory / "passwd", directory / "acl"
    _write_atomic(passwd, passwd_text(entries))
    _write_atomic(acl, acl_text(prefix, [gw.id for gw in gateways], server_user))
    return passwd, acl
