"""Every error the API answers has one shape, ``{"detail": "...", "reason": "<token>"}``.

``ServerError`` carries its own HTTP status; database errors are translated where they reach the
API (a lost race on a unique key is a conflict the client can retry, a database that does not
answer is a 503).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

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


# Reasons for the answers the framework gives itself (unknown path, wrong method).
HTTP_REASONS = {404: "not_found", 405: "method_not_allowed"}


def validation_detail(exc: RequestValidationError) -> str:
    """``query.offset: Input should be ...; body.note: ...``: each problem, where it is."""
    return "; ".join(
        "%s: %s" % (".".join(str(part) for part in error["loc"]), error["msg"]) for error in exc.errors()
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServerError)
    async def _server_error(request: Request, exc: ServerError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc), "reason": "invalid_input"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot even decode (not UTF-8): malformed input, as
            # every other, is a 422.
            body = {"detail": "body: %s" % exc.detail, "reason": "invalid_input"}
            return JSONResponse(body, status_code=422)
        body = {"detail": str(exc.detail), "reason": HTTP_REASONS.get(exc.status_code, "http_error")}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(Conflict("conflicting change, try again", reason="db_conflict"))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("%s %s: database unavailable: %s", request.method, request.url.path, exc.orig)
        return error_response(Unavailable("database unavailable", reason="db_unavailable"))
