"""Every error the API answers has one shape, ``{"detail": "...", "reason": "<token>"}``.

``ServerError`` carries its own HTTP status; database errors are translated where they reach the
API (a lost race on a unique key is a conflict the client can retry, a database that does not
answer is a 503).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError

from server.api.schemas import ErrorBody
from server.errors import Conflict, ServerError, Unavailable

log = logging.getLogger(__name__)

# The error answers every route may give, for /openapi.json.
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "no token, a bad one, or a disabled user"},
    403: {"model": ErrorBody, "description": "the caller's role may not do this"},
    404: {"model": ErrorBody, "description": "not found, or outside the caller's region"},
    409: {"model": ErrorBody, "description": "illegal in the current state"},
    422: {"model": ErrorBody, "description": "malformed or out-of-range input"},
}


def error_response(exc: ServerError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        {"detail": exc.detail or str(exc), "reason": exc.reason}, status_code=exc.status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServerError)
    async def _server_error(request: Request, exc: ServerError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(Conflict("conflicting change, try again", reason="db_conflict"))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("%s %s: database unavailable: %s", request.method, request.url.path, exc.orig)
        return error_response(Unavailable("database unavailable", reason="db_unavailable"))
