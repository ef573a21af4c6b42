"""Request dependencies: services, the caller's scope, error translation."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.db.models import Region, User
from server.errors import AuthError, Conflict, Forbidden, Invalid, NotFound, ServerError
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

STATUS = {AuthError: 401, Forbidden: 403, NotFound: 404, Conflict: 409, Invalid: 422}


def error_response(exc: ServerError) -> JSONResponse:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"detail": exc.detail or str(exc), "reason": exc.reason}, status_code=status, headers=headers
    )
