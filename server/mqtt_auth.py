"""Broker accounts issued by the server, and the Mosquitto password and ACL files for them.

Three kinds of account, each bound to its own topics by the ACL:

- a gateway logs in as its own id and may publish only under ``{prefix}/gw/ID/`` and read
  only its own ack and commands;
- a server instance logs in as ``server.NAME`` and may read and write everything;
- a duty room logs in as ``duty.c01.t03`` (``duty._all`` for the whole tree) and may only
  read the alerts of its region subtree.

The dot cannot occur in a gateway id or a region code, so no gateway can ever be registered
under the name of a server or duty account (which would merge their ACL entries). The server
keeps only password hashes, already in Mosquitto's format (PBKDF2-SHA512, ``$7$``), so it can
write the password file at any time without knowing any password.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.broker_files import write_broker_file
from server.db.models import BrokerAccount, Gateway, Region
from server.errors import Conflict, Invalid, NotFound

ITERATIONS = 101  # what mosquitto_passwd 2.0 uses; the passwords are long random tokens
SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
DUTY_WHOLE_TREE = "duty._all"
PASSWD_FILE, ACL_FILE = "passwd", "acl"


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, ITERATIONS, 64)
    return "$7$%d$%s$%s" % (ITERATIONS, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def new_password() -> str:
    return secrets.token_urlsafe(24)


def issue_credentials(gateway: Gateway) -> str:
    """A new password for the gateway (the old one stops working once the files are rewritten)."""
    password = new_password()
    gateway.secret_hash = mosquitto_hash(password)
    return password


def server_username(name: str) -> str:
    if not SERVER_NAME.fullmatch(name):
        raise Invalid(
            "server name %r: 1-32 lower-case letters, digits and '-'" % name, reason="bad_server_name"
        )
    return "server." + name


def duty_username(region_path: str | None) -> str:
    return DUTY_WHOLE_TREE if region_path is None else "duty." + region_path.replace("/", ".")


def duty_topic(prefix: str, region_path: str | None) -> str:
    """What the duty room subscribes to: every alert of its subtree."""
    return "%s/duty/#" % prefix if region_path is None else "%s/duty/%s/#" % (prefix, region_path)


def issue_server_account(session: Session, name: str, issued_by: str, now: datetime) -> tuple[str, str]:
    """(username, password) for one server instance; issuing again replaces the password."""
    return _issue(session, server_username(name), "server", None, issued_by, now)


def issue_duty_account(
    session: Session, region: Region | None, issued_by: str, now: datetime
) -> tuple[str, str]:
    """(username, password) of the read-only account for a region subtree's duty room."""
    return _issue(session, duty_username(region.path if region else None), "duty", region, issued_by, now)


def _issue(
    session: Session, username: str, kind: str, region: Region | None, issued_by: str, now: datetime
) -> tuple[str, str]:
    password = new_password()
    account = session.get(BrokerAccount, username)
    if account is None:
        account = BrokerAccount(username=username, kind=kind)
        session.add(account)
    account.region_id = region.id if region is not None else None
    account.secret_hash = mosquitto_hash(password)
    account.issued_at = now
    account.issued_by = issued_by[:64]
    session.flush()
    return username, password


def revoke_account(session: Session, username: str) -> BrokerAccount:
    account = session.get(BrokerAccount, username)
    if account is None:
        raise NotFound("broker account %s not found" % username)
    session.delete(account)
    session.flush()
    return account


@dataclass(frozen=True)
class BrokerUser:
    """One entry of the password file with its ACL rules (``topic read ...`` lines)."""

    username: str
    secret_hash: str
    rules: tuple[str, ...]


def gateway_rules(prefix: str, gateway: str) -> tuple[str, ...]:
    base = "%s/gw/%s" % (prefix, gateway)
    return (
        "topic write %s/events" % base,
        "topic readwrite %s/status" % base,
        "topic write %s/cmd/result" % base,
        "topic write %s/actions" % base,  # the kiosk's station actions
        "topic read %s/ack" % base,
        "topic read %s/cmd" % base,
        "topic read %s/actions/ack" % base,
    )


def server_rules(prefix: str) -> tuple[str, ...]:
    return ("topic readwrite %s/#" % prefix, "topic read $SYS/#")


def duty_rules(prefix: str, region_path: str | None) -> tuple[str, ...]:
    return ("topic read %s" % duty_topic(prefix, region_path),)


def broker_users(session: Session, prefix: str, own_login: tuple[str, str] | None = None) -> list[BrokerUser]:
    """Every account the broker should know: server instances, duty rooms, gateways.

    ``own_login`` is the running server's own account when it is not one issued by
    ``server-credentials`` (an older installation with the password in its broker URL).
    """
    users: list[BrokerUser] = []
    accounts = session.execute(
        select(BrokerAccount, Region.path)
        .outerjoin(Region, BrokerAccount.region_id == Region.id)
        .order_by(BrokerAccount.kind.desc(), BrokerAccount.username)
    ).all()
    for account, path in accounts:
        rules = server_rules(prefix) if account.kind == "server" else duty_rules(prefix, path)
        users.append(BrokerUser(account.username, account.secret_hash, rules))
    gateways = session.scalars(
        select(Gateway).where(Gateway.secret_hash.is_not(None)).order_by(Gateway.id)
    ).all()
    users += [BrokerUser(gw.id, gw.secret_hash or "", gateway_rules(prefix, gw.id)) for gw in gateways]
    if own_login is not None and all(u.username != own_login[0] for u in users[: len(accounts)]):
        if any(gw.id == own_login[0] for gw in gateways):
            raise Conflict(
                "the server's broker account %r is also a gateway id; issue the server its own "
                "account with `shouwang server server-credentials NAME`" % own_login[0],
                reason="account_clash",
            )
        users.insert(0, BrokerUser(own_login[0], mosquitto_hash(own_login[1]), server_rules(prefix)))
    return users


def acl_text(users: list[BrokerUser]) -> str:
    lines = ["# Written by the Shouwang server; edits are overwritten.", ""]
    for user in users:
        lines += ["user %s" % user.username, *user.rules, ""]
    return "\n".join(lines)


def passwd_text(users: list[BrokerUser]) -> str:
    return "".join("%s:%s\n" % (u.username, u.secret_hash) for u in users)


def write_auth_files(
    session: Session,
    directory: Path,
    prefix: str,
    server_user: str | None = None,
    server_password: str | None = None,
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` for Mosquitto; reload the broker (SIGHUP) to apply them."""
    own = (server_user, server_password) if server_user and server_password else None
    users = broker_users(session, prefix, own)
    passwd, acl = directory / PASSWD_FILE, directory / ACL_FILE
    write_broker_file(passwd, passwd_text(users))
    write_broker_file(acl, acl_text(users))
    return passwd, acl
