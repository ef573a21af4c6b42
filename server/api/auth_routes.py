"""POST /api/v1/auth/token: OAuth2 password grant, answered with a signed bearer token."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from server.api.deps import services
from server.api.schemas import Token
from server.auth import dummy_verify, verify_password
from server.db.models import User
from server.errors import AuthError, Invalid
from server.services import Services

router = APIRouter(tags=["auth"])

_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password"]},
                        "username": {"type": "string", "example": "duty-c01"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}


def _login(svc: Services, username: str, password: str) -> Token:
    with svc.db.read() as session:
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None:
            dummy_verify(password)
            raise AuthError("wrong username or password", reason="bad_credentials")
        if not verify_password(password, user.password_hash) or not user.active:
            raise AuthError("wrong username or password", reason="bad_credentials")
        ttl = svc.settings.token_ttl
        return Token(
            access_token=svc.signer.issue(user.id, user.username, time.time(), ttl), expires_in=int(ttl)
        )


@router.post(
    "/auth/token",
    response_model=Token,
    openapi_extra=_FORM_SCHEMA,
    summary="Exchange username and password for a bearer token",
)
async def token(request: Request) -> Token:
    # The form is parsed here rather than with fastapi.Form, which needs python-multipart
    # even for urlencoded bodies.
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    if form.get("grant_type", "password") != "password":
        raise Invalid("grant_type must be password", reason="unsupported_grant_type")
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        raise Invalid("username and password are required", reason="missing_credentials")
    return await run_in_threadpool(_login, services(request), username, password)
