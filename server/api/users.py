"""Users: admins create and change the people of their own subtree, and read their audit trail.

A user outside the caller's subtree does not exist for the caller (404), and no write may give
a user a place outside it: a region there is unknown (422), the whole tree is refused (403).
Management is for admins only and admin is the highest role, so "never a higher role than
your own" holds by that alone; the scope rule is what keeps a township admin a township admin.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy.orm import Session

from server.api.bounds import Username
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import UserChangeOut, UserIn, UserOut, UserPatch
from server.data.regions import region_by_path
from server.data.users import change_user, create_user, user_changes, user_in_scope, user_view
from server.db.models import Region, User
from server.errors import ConfigError, Forbidden, Invalid, NotFound
from server.scope import Scope, require_admin

log = logging.getLogger(__name__)
router = APIRouter(tags=["users"], responses=ERRORS)


def _destination(s: Session, scope: Scope, path: str | None) -> Region | None:
    """The region a write gives a user: inside the caller's subtree, never wider than it."""
    if path is None and not scope.is_root:
        raise Forbidden(
            "only an admin of the whole tree may give a user the whole tree", reason="outside_scope"
        )
    return region_by_path(s, path, scope)


def _out(s: Session, scope: Scope, user_id: int) -> UserOut:
    return UserOut.model_validate(s.execute(user_view(scope).where(User.id == user_id)).one())


def _user(s: Session, scope: Scope, username: str) -> User:
    user = user_in_scope(s, scope, username)
    if user is None:
        raise NotFound("user %s not found" % username)
    return user


@router.get("/users", response_model=Page[UserOut])
def list_users(svc: ServicesDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0) -> Page[UserOut]:
    require_admin(scope)
    with svc.db.read() as s:
        return paginate(s, user_view(scope).order_by(User.username), UserOut, limit, offset)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    summary="Create a user inside your subtree (409 if the name exists)",
)
def create(body: UserIn, svc: ServicesDep, scope: ScopeDep) -> UserOut:
    require_admin(scope)
    with svc.db.write() as s:
        region = _destination(s, scope, body.region)
        try:
            user = create_user(s, body.username, body.password, body.role, region, scope, svc.clock())
        except ConfigError as exc:
            raise Invalid(str(exc), reason="weak_password") from None
        out = _out(s, scope, user.id)
    log.info("user %s (%s, %s) created by %s", out.username, out.role, out.region or "/", scope.username)
    return out


@router.get("/users/{username}", response_model=UserOut)
def read_user(username: Username, svc: ServicesDep, scope: ScopeDep) -> UserOut:
    require_admin(scope)
    with svc.db.read() as s:
        return _out(s, scope, _user(s, scope, username).id)


@router.patch(
    "/users/{username}",
    response_model=UserOut,
    summary="Change a user of your subtree: password, role, region, active; fields left out stay",
)
def change(username: Username, body: UserPatch, svc: ServicesDep, scope: ScopeDep) -> UserOut:
    require_admin(scope)
    fields = body.model_dump(exclude_unset=True)
    with svc.db.write() as s:
        user = _user(s, scope, username)  # where it is now
        if "region" in fields:
            fields["region"] = _destination(s, scope, fields["region"])  # where it goes
        try:
            changes = change_user(s, user, fields, scope, svc.clock())
        except ConfigError as exc:
            raise Invalid(str(exc), reason="weak_password") from None
        out = _out(s, scope, user.id)
    if changes:
        log.info("user %s changed by %s: %s", username, scope.username, ", ".join(sorted(changes)))
    return out


@router.get(
    "/users/{username}/changes",
    response_model=list[UserChangeOut],
    summary="The user's audit trail: who created and changed it, when, and what changed",
)
def read_changes(username: Username, svc: ServicesDep, scope: ScopeDep) -> list[UserChangeOut]:
    require_admin(scope)
    with svc.db.read() as s:
        user = _user(s, scope, username)
        return [UserChangeOut.model_validate(c) for c in user_changes(s, user.id)]
