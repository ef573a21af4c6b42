"""POST /api/v1/auth/token: OAuth2 password grant, answered with a signed bearer token.

Throttled per user name and per address (429 with Retry-After), every attempt audited."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from server.api.deps import services
from server.api.schemas import ErrorBody, Token
from server.errors import Invalid
from server.services import Services
from server.sign_in import TooManyAttempts, sign_in

router = APIRouter(tags=["auth"])

# The bounds of server.api.bounds, for a form parsed by hand.
USERNAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
PASSWORD = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{1,1024}")

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


def _login(svc: Services, username: str, password: str, address: str) -> Token:
    user = sign_in(svc.db, username, password, address, svc.clock())
    ttl = svc.settings.token_ttl
    return Token(
        access_token=svc.signer.issue(user.user_id, user.username, time.time(), ttl), expires_in=int(ttl)
    )


@router.post(
    "/auth/token",
    response_model=Token,
    openapi_extra=_FORM_SCHEMA,
    summary="Exchange username and password for a bearer token",
    responses={
        401: {"model": ErrorBody},
        422: {"model": ErrorBody},
        429: {"model": ErrorBody, "description": "too many failed sign-ins; see Retry-After"},
    },
)
async def token(request: Request) -> Token | JSONResponse:
    # The form is parsed here rather than with fastapi.Form, which needs python-multipart
    # even for urlencoded bodies.
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    if form.get("grant_type", "password") != "password":
        raise Invalid("grant_type must be password", reason="unsupported_grant_type")
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        raise Invalid("username and password are required", reason="missing_credentials")
    if not (USERNAME.fullmatch(username) and PASSWORD.fullmatch(password)):
        raise Invalid("username or password is too long or holds control characters", reason="bad_form")
    address = request.client.host if request.client is not None else "unknown"
    try:
        return await run_in_threadpool(_login, services(request), username, password, address)
    except TooManyAttempts as exc:
        return JSONResponse(
            {"detail": exc.detail, "reason": exc.reason},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
