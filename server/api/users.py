"""Users: admins manage the people of their own subtree."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import UserIn, UserOut
from server.data.regions import region_by_path
from server.data.users import ensure_user, user_view
from server.db.models import User
from server.errors import ConfigError, Forbidden, Invalid
from server.scope import require_admin

router = APIRouter(tags=["users"], responses=ERRORS)


@router.get("/users", response_model=Page[UserOut])
def list_users(svc: ServicesDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0) -> Page[UserOut]:
    require_admin(scope)
    with svc.db.read() as s:
        return paginate(s, user_view(scope).order_by(User.username), UserOut, limit, offset)


@router.post("/users", response_model=UserOut, summary="Create a user or reset their password")
def save_user(body: UserIn, svc: ServicesDep, scope: ScopeDep) -> UserOut:
    require_admin(scope)
    if not scope.covers(body.region):
        raise Forbidden("a user must sit inside your region %s" % scope.region_path)
    with svc.db.write() as s:
        try:
            user = ensure_user(s, body.username, body.password, body.role, region_by_path(s, body.region))
        except ConfigError as exc:
            raise Invalid(str(exc), reason="weak_password") from None
        return UserOut.model_validate(s.execute(user_view(scope).where(User.id == user.id)).one())
