"""What the kiosk refuses, each with a stable reason the page translates and an HTTP status."""

from __future__ import annotations

from gateway.errors import GatewayError


class KioskError(GatewayError):
    """A request the kiosk refuses; ``reason`` is the token the page shows in its language."""

    status = 400
    reason = "bad_request"

    def __init__(self, detail: str = "", reason: str | None = None) -> None:
        super().__init__(detail or reason or self.reason)
        if reason is not None:
            self.reason = reason
        self.detail = detail


class BadInput(KioskError):
    status = 400
    reason = "bad_input"


class NotSignedIn(KioskError):
    status = 401
    reason = "signed_out"


class WrongPin(KioskError):
    status = 401
    reason = "wrong_pin"


class Refused(KioskError):
    """The client's address is not on the station's network."""

    status = 403
    reason = "not_station_network"


class NotFound(KioskError):
    status = 404
    reason = "not_found"


class Conflict(KioskError):
    status = 409
    reason = "conflict"


class Throttled(KioskError):
    status = 429
    reason = "throttled"

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(detail or "too many wrong PINs; try again in %d s" % max(1, round(retry_after)))
        self.retry_after = retry_after


class DiskFull(KioskError):
    """The station's disk (or the kiosk's share of it) is full; alarms keep their reserved room."""

    status = 507
    reason = "disk_full"


class StorageError(KioskError):
    status = 500
    reason = "storage"
