"""Users: the view, one user in scope, create, change, and the audit trail of both.

``ensure_user`` (create or update by name) serves only the operator's own paths: the first
admin at start and seed files. The API creates and changes users with the explicit
``create_user`` and ``change_user``, after checking where the user is and where it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.auth import hash_password, verify_password
from server.data.regions import region_path
from server.db.models import Region, User, UserChange
from server.errors import Conflict, Invalid
from server.scope import ROLES, SYSTEM, Scope, in_scope
from server.settings import check_password


def user_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Users whose region lies in the scope: the fields of ``UserOut``."""
    return (
        select(User.id, User.username, User.role, Region.path.label("region"), User.active)
        .outerjoin(Region, User.region_id == Region.id)
        .where(in_scope(Region.path, scope))
    )


def user_in_scope(session: Session, scope: Scope, username: str) -> User | None:
    """The user, if its region lies in the scope; a user outside it does not exist for the caller."""
    return session.scalars(
        select(User)
        .outerjoin(Region, User.region_id == Region.id)
        .where(User.username == username, in_scope(Region.path, scope))
    ).one_or_none()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise Invalid("bad role %r, one of %s" % (role, ", ".join(ROLES)), reason="bad_role")


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    region: Region | None,
    actor: Scope,
    now: datetime,
) -> User:
    """A new user; a name that exists anywhere is a conflict, never an update."""
    _check_role(role)
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict("user %s already exists" % username, reason="user_exists")
    check_password(password, "password of %s" % username, (username,))
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        region_id=region.id if region is not None else None,
        created_at=now,
        active=True,
    )
    session.add(user)
    session.flush()
    changes: dict[str, Any] = {
        "role": {"from": None, "to": role},
        "region": {"from": None, "to": region.path if region is not None else None},
        "active": {"from": None, "to": True},
        "password": "set",
    }
    _record(session, user, actor, "create", changes, now)
    return user


def change_user(
    session: Session, user: User, fields: dict[str, Any], actor: Scope, now: datetime
) -> dict[str, Any]:
    """Apply the keys present in ``fields`` (``role``, ``region`` as a Region or None,
    ``active``, ``password``); record what really changed, and answer it."""
    if "password" in fields:
        # First, so a weak password leaves everything as it was.
        check_password(fields["password"], "password of %s" % user.username, (user.username,))
    changes: dict[str, Any] = {}
    if "role" in fields and fields["role"] != user.role:
        _check_role(fields["role"])
        changes["role"] = {"from": user.role, "to": fields["role"]}
        user.role = fields["role"]
    if "region" in fields:
        region: Region | None = fields["region"]
        region_id = region.id if region is not None else None
        if region_id != user.region_id:
            changes["region"] = {
                "from": region_path(session, user.region_id),
                "to": region.path if region is not None else None,
            }
            user.region_id = region_id
    if "active" in fields and bool(fields["active"]) != user.active:
        changes["active"] = {"from": user.active, "to": bool(fields["active"])}
        user.active = bool(fields["active"])
    if "password" in fields:
        user.password_hash = hash_password(fields["password"])
        changes["password"] = "changed"
    if changes:
        session.flush()
        _record(session, user, actor, "change", changes, now)
    return changes


def ensure_user(
    session: Session, username: str, password: str, role: str, region: Region | None, now: datetime
) -> User:
    """Create or update by name: the first admin and seed files, done by the system."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        return create_user(session, username, password, role, region, SYSTEM, now)
    check_password(password, "password of %s" % username, (username,))
    fields: dict[str, Any] = {"role": role, "region": region}
    if not verify_password(password, user.password_hash):
        fields["password"] = password
    change_user(session, user, fields, SYSTEM, now)
    return user


def _record(
    session: Session, user: User, actor: Scope, action: str, changes: dict[str, Any], now: datetime
) -> None:
    session.add(
        UserChange(
            at=now,
            user_id=user.id,
            actor_id=actor.user_id,
            actor=actor.username,
            action=action,
            changes=changes,
        )
    )
    session.flush()


def user_changes(session: Session, user_id: int) -> Sequence[UserChange]:
    """The user's audit trail, oldest first."""
    return session.scalars(
        select(UserChange).where(UserChange.user_id == user_id).order_by(UserChange.id)
    ).all()
