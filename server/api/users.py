"""Users: admins manage the people of their own subtree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from server.api.cases import ERRORS
from server.api.deps import ScopeDep, ServicesDep
from server.api.schemas import Page, UserIn, UserOut
from server.db.models import Region, User
from server.errors import ConfigError, Forbidden, Invalid
from server.regions import region_by_path
from server.scope import in_scope, require_admin
from server.seed import ensure_user

router = APIRouter(tags=["users"])


@router.get("/users", response_model=Page[UserOut], responses=ERRORS)
def list_users(
    svc: ServicesDep,
    scope: ScopeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[UserOut]:
    require_admin(scope)
    stmt = (
        select(User, Region.path)
        .outerjoin(Region, User.region_id == Region.id)
        .where(in_scope(Region.path, scope))
        .order_by(User.username)
    )
    with svc.db.read() as s:
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        rows = s.execute(stmt.limit(limit).offset(offset)).all()
        items = [
            UserOut(id=u.id, username=u.username, role=u.role, region=p, active=u.active) for u, p in rows
        ]
    return Page[UserOut](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/users", response_model=UserOut, responses=ERRORS, summary="Create a user or reset their password"
)
def save_user(body: UserIn, svc: ServicesDep, scope: ScopeDep) -> UserOut:
    require_admin(scope)
    if not scope.covers(body.region):
        raise Forbidden("a user must sit inside your region %s" % scope.region_path)
    with svc.db.write() as s:
        try:
            user = ensure_user(s, body.username, body.password, body.role, region_by_path(s, body.region))
        except ConfigError as exc:
            raise Invalid(str(exc), reason="weak_password") from None
        return UserOut(
            id=user.id, username=user.username, role=user.role, region=body.region, active=user.active
        )
