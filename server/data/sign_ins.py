"""The sign-in audit: the attempts an admin may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from server.db.models import Region, SignIn, User
from server.scope import Scope, in_scope


def sign_in_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Attempts on the accounts of the scope's subtree, newest first: the fields of ``SignInOut``.

    An attempt on a name that is no user belongs to no region: only the whole tree sees it."""
    stmt = (
        select(SignIn.at, SignIn.username, Region.path.label("region"), SignIn.address, SignIn.result)
        .outerjoin(User, SignIn.user_id == User.id)
        .outerjoin(Region, User.region_id == Region.id)
        .order_by(SignIn.at.desc(), SignIn.id.desc())
    )
    if not scope.is_root:
        stmt = stmt.where(SignIn.user_id.is_not(None), in_scope(Region.path, scope))
    return stmt
