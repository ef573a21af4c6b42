"""The one exception base of the server package."""

from __future__ import annotations


class ServerError(Exception):
    """Anything the server refuses or cannot do, with a short stable ``reason`` token."""

    reason = "server_error"

    def __init__(self, detail: str = "", reason: str | None = None) -> None:
        super().__init__(detail or (reason or self.reason))
        if reason is not None:
            self.reason = reason
        self.detail = detail


class ConfigError(ServerError):
    reason = "bad_config"


class NotFound(ServerError):
    reason = "not_found"


class Conflict(ServerError):
    """The request is well-formed but illegal in the current state (HTTP 409)."""

    reason = "conflict"


class Invalid(ServerError):
    """The request is malformed (HTTP 422)."""

    reason = "invalid"


class AuthError(ServerError):
    reason = "unauthorized"


class Forbidden(ServerError):
    reason = "forbidden"
