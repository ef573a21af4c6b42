"""The one exception base of the server package.

Each class carries the HTTP status it answers with when it reaches the API; the answer's body is
always ``{"detail": ..., "reason": ...}`` (see ``server/api/errors.py``).
"""

from __future__ import annotations


class ServerError(Exception):
    """Anything the server refuses or cannot do, with a short stable ``reason`` token."""

    reason = "server_error"
    status = 500

    def __init__(self, detail: str = "", reason: str | None = None) -> None:
        super().__init__(detail or (reason or self.reason))
        if reason is not None:
            self.reason = reason
        self.detail = detail


class ConfigError(ServerError, ValueError):
    """A setting that cannot work; also a ValueError, so settings validators report it as such."""

    reason = "bad_config"


class NotFound(ServerError):
    reason = "not_found"
    status = 404


class Conflict(ServerError):
    """The request is well-formed but illegal in the current state (HTTP 409)."""

    reason = "conflict"
    status = 409


class Invalid(ServerError):
    """The request is malformed (HTTP 422)."""

    reason = "invalid"
    status = 422


class AuthError(ServerError):
    reason = "unauthorized"
    status = 401


class Forbidden(ServerError):
    reason = "forbidden"
    status = 403


class Unavailable(ServerError):
    """A part the server depends on (the database) does not answer (HTTP 503)."""

    reason = "unavailable"
    status = 503
