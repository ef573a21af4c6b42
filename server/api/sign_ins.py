"""The sign-in audit, for admins: attempts on the accounts of their own subtree.

An attempt on a name that is no user belongs to no region, so only admins of the whole
tree see it, like the root admin's own sign-ins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from server.api.deps import ScopeDep, ServicesDep
from server.api.paging import Page
from server.api.schemas import ErrorBody
from server.db.models import Region, SignIn, User
from server.scope import in_scope, require_admin

router = APIRouter(tags=["users"])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    422: {"model": ErrorBody},
}
Result = Literal["ok", "bad_password", "unknown_user", "disabled", "throttled"]


class SignInOut(BaseModel):
    at: datetime
    username: str
    region: str | None
    address: str
    result: Result


@router.get(
    "/sign-ins",
    response_model=Page[SignInOut],
    responses=ERRORS,
    summary="Sign-in attempts (newest first) on accounts within the caller's subtree",
)
def list_sign_ins(
    svc: ServicesDep,
    scope: ScopeDep,
    username: Annotated[str | None, Query(max_length=64)] = None,
    result: Result | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Page[SignInOut]:
    require_admin(scope)
    stmt = (
        select(SignIn, Region.path)
        .outerjoin(User, SignIn.user_id == User.id)
        .outerjoin(Region, User.region_id == Region.id)
        .order_by(SignIn.at.desc(), SignIn.id.desc())
    )
    if not scope.is_root:
        stmt = stmt.where(SignIn.user_id.is_not(None), in_scope(Region.path, scope))
    if username is not None:
        stmt = stmt.where(SignIn.username == username)
    if result is not None:
        stmt = stmt.where(SignIn.result == result)
    with svc.db.read() as s:
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        rows = s.execute(stmt.limit(limit).offset(offset)).all()
        items = [
            SignInOut(at=r.at, username=r.username, region=path, address=r.address, result=r.result)  # type: ignore[arg-type]
            for r, path in rows
        ]
    return Page[SignInOut](items=items, total=total, limit=limit, offset=offset)
