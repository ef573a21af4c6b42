"""Stations, gateways and devices: create or update by key, shared by the seed file and the API.

Only the keys present in ``data`` change, so the same call serves create, full update and
partial update (PATCH).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hardware.catalog import CatalogError, load_catalog
from protocol.errors import ProtocolError
from protocol.ids import check_device_id, check_gateway_id
from server.db.models import Device, Gateway, Station
from server.errors import ConfigError, Invalid
from server.regions import locate_grid, region_by_path


@functools.cache
def catalog_models() -> frozenset[str]:
    """Model names of the device catalog, the one the gateways load. A catalog that does not
    load is a broken installation: ``ConfigError``, never a silent skip of the check."""
    try:
        return frozenset(load_catalog())
    except CatalogError as exc:
        raise ConfigError("the device catalog cannot be loaded: %s" % exc) from None


def _coords(data: dict[str, Any], obj: Station | Device) -> None:
    for key in ("lat", "lon", "address"):
        if key in data:
            setattr(obj, key, data[key])
    if (obj.lat is None) != (obj.lon is None):
        raise Invalid("lat and lon go together", reason="bad_location")
    if obj.lat is not None and obj.lon is not None and not (-90 <= obj.lat <= 90 and -180 <= obj.lon <= 180):
        raise Invalid("lat/lon out of range", reason="bad_location")


def station_by_code(session: Session, code: str) -> Station | None:
    return session.scalars(select(Station).where(Station.code == code)).one_or_none()


def upsert_station(session: Session, code: str, data: dict[str, Any]) -> Station:
    st = station_by_code(session, code)
    if st is None:
        if not data.get("name"):
            raise Invalid("a new station needs a name", reason="bad_station")
        st = Station(code=code)
        session.add(st)
    if data.get("name"):
        st.name = str(data["name"])
    _coords(data, st)
    if data.get("region") is not None:
        region = region_by_path(session, data["region"])
        st.region_id = region.id if region is not None else None
    elif "region" in data or st.region_id is None:
        # No explicit region: the grid its location falls in.
        grid = locate_grid(session, st.lon, st.lat) if st.lat is not None and st.lon is not None else None
        st.region_id = grid.id if grid is not None else None
    session.flush()
    return st


def upsert_gateway(session: Session, gateway_id: str, data: dict[str, Any]) -> Gateway:
    try:
        check_gateway_id(gateway_id)
    except ProtocolError as exc:
        raise Invalid(str(exc), reason="bad_gateway_id") from None
    gw = session.get(Gateway, gateway_id)
    if gw is None:
        gw = Gateway(id=gateway_id)
        session.add(gw)
    if "station" in data:
        station = station_by_code(session, data["station"]) if data["station"] else None
        if data["station"] and station is None:
            raise Invalid("unknown station %r" % data["station"], reason="unknown_station")
        gw.station_id = station.id if station is not None else None
    session.flush()
    return gw


def upsert_device(session: Session, device_id: str, data: dict[str, Any]) -> Device:
    try:
        check_device_id(device_id)
    except ProtocolError as exc:
        raise Invalid(str(exc), reason="bad_device_id") from None
    dev = session.get(Device, device_id)
    if dev is None:
        dev = Device(id=device_id)
        session.add(dev)
    if "gateway" in data:
        if data["gateway"] is not None and session.get(Gateway, data["gateway"]) is None:
            raise Invalid("unknown gateway %r" % data["gateway"], reason="unknown_gateway")
        dev.gateway_id = data["gateway"]
    if "model" in data:
        models = catalog_models()
        if data["model"] is not None and data["model"] not in models:
            raise Invalid(
                "unknown device model %r; the catalog has %s" % (data["model"], ", ".join(sorted(models))),
                reason="unknown_model",
            )
        dev.model = data["model"]
    if "name" in data:
        dev.name = data["name"]
    if "region" in data:  # the explicit override; None removes it
        region = region_by_path(session, data["region"])
        dev.region_id = region.id if region is not None else None
    if "holder_contact" in data:
        dev.holder_contact = data["holder_contact"]
    _coords(data, dev)
    if any(k in data for k in ("lat", "lon")) or dev.grid_id is None:
        grid = locate_grid(session, dev.lon, dev.lat) if dev.lat is not None and dev.lon is not None else None
        dev.grid_id = grid.id if grid is not None else None
    session.flush()
    return dev
