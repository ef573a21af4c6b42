"""Coordinates and address shared by stations and devices."""

from __future__ import annotations

from typing import Any

from server.db.models import Device, Station
from server.errors import Invalid


def set_location(data: dict[str, Any], obj: Station | Device) -> None:
    """Copy ``lat``, ``lon``, ``address`` present in ``data``; lat and lon go together."""
    for key in ("lat", "lon", "address"):
        if key in data:
            setattr(obj, key, data[key])
    if (obj.lat is None) != (obj.lon is None):
        raise Invalid("lat and lon go together", reason="bad_location")
    if obj.lat is not None and obj.lon is not None and not (-90 <= obj.lat <= 90 and -180 <= obj.lon <= 180):
        raise Invalid("lat/lon out of range", reason="bad_location")
