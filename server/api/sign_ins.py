"""The sign-in audit, for admins: attempts on the accounts of their own subtree.

An attempt on a name that is no user belongs to no region, so only admins of the whole
tree see it, like the root admin's own sign-ins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from server.api.bounds import UserName
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.data.sign_ins import sign_in_view
from server.db.models import SignIn
from server.scope import require_admin

router = APIRouter(tags=["users"], responses=ERRORS)
Result = Literal["ok", "bad_password", "unknown_user", "disabled", "throttled"]


class SignInOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    username: str
    region: str | None
    address: str
    result: Result


@router.get(
    "/sign-ins",
    response_model=Page[SignInOut],
    summary="Sign-in attempts (newest first) on accounts within the caller's subtree",
)
def list_sign_ins(
    svc: ServicesDep,
    scope: ScopeDep,
    username: UserName | None = None,
    result: Result | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[SignInOut]:
    require_admin(scope)
    stmt = sign_in_view(scope)
    if username is not None:
        stmt = stmt.where(SignIn.username == username)
    if result is not None:
        stmt = stmt.where(SignIn.result == result)
    with svc.db.read() as s:
        return paginate(s, stmt, SignInOut, limit, offset)
