"""Request dependencies: the services and the caller's scope."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.db.models import Region, User
from server.errors import AuthError
from server.scope import Scope
from server.services import Services

_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/token")


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def current_scope(
    svc: ServicesDep, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Scope:
    if cred is None or cred.scheme.lower() != "bearer":
        raise AuthError("a bearer token is required", reason="no_token")
    claims = svc.signer.verify(cred.credentials, time.time())
    # The user row is read on every request, so disabling a user or moving them to another
    # region takes effect at once, not when their token expires.
    with svc.db.read() as session:
        user = session.get(User, claims.user_id)
        if user is None or not user.active or user.username != claims.username:
            raise AuthError("user is disabled or gone", reason="bad_user")
        region = session.get(Region, user.region_id) if user.region_id is not None else None
        return Scope(user.id, user.username, user.role, region.path if region is not None else None)


ScopeDep = Annotated[Scope, Depends(current_scope)]
