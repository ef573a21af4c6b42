"""Users: the view and create-or-update by name (seed file, first admin, API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.auth import hash_password, verify_password
from server.db.models import Region, User, utcnow
from server.errors import Invalid
from server.scope import ROLES, Scope, in_scope
from server.settings import check_password


def user_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Users whose region lies in the scope: the fields of ``UserOut``."""
    return (
        select(User.id, User.username, User.role, Region.path.label("region"), User.active)
        .outerjoin(Region, User.region_id == Region.id)
        .where(in_scope(Region.path, scope))
    )


def ensure_user(session: Session, username: str, password: str, role: str, region: Region | None) -> User:
    if role not in ROLES:
        raise Invalid("bad role %r, one of %s" % (role, ", ".join(ROLES)), reason="bad_role")
    check_password(password, "password of %s" % username, (username,))
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        user = User(
            username=username, password_hash=hash_password(password), created_at=utcnow(), active=True
        )
        session.add(user)
    elif not verify_password(password, user.password_hash):
        user.password_hash = hash_password(password)
    user.role = role
    user.region_id = region.id if region is not None else None
    session.flush()
    return user
