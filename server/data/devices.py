"""Devices: the view (with the effective region), create or update by id, the model catalog."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, func, null, select
from sqlalchemy.orm import Session, aliased

from hardware.catalog import CatalogError, load_catalog
from protocol.errors import ProtocolError
from protocol.ids import check_device_id
from server.data.gateways import gateway_in_scope
from server.data.location import set_location
from server.data.regions import locate_grid, region_by_path
from server.db.models import Device, Gateway, Region, Station
from server.errors import ConfigError, Invalid
from server.scope import SYSTEM, Scope, in_scope

_override, _grid, _station_region = aliased(Region), aliased(Region), aliased(Region)
# A device's region: its explicit override, else the grid of its own location, else its station's.
effective_region = func.coalesce(_override.path, _grid.path, _station_region.path)


def device_view(scope: Scope, *, contact: bool) -> Select[*tuple[Any, ...]]:
    """Devices whose effective region lies in the scope: the fields of ``DeviceOut``.

    ``contact`` selects the holder's emergency contact; without it the column is not even read.
    """
    return (
        select(
            Device.id,
            Device.gateway_id.label("gateway"),
            Device.model,
            Device.name,
            effective_region.label("region"),
            _override.path.label("region_override"),
            Device.lat,
            Device.lon,
            Device.address,
            (Device.holder_contact if contact else null()).label("holder_contact"),
            Device.key.is_not(None).label("key_set"),  # the key itself is never read here
            Device.zones,
        )
        .outerjoin(_override, Device.region_id == _override.id)
        .outerjoin(_grid, Device.grid_id == _grid.id)
        .outerjoin(Gateway, Device.gateway_id == Gateway.id)
        .outerjoin(Station, Gateway.station_id == Station.id)
        .outerjoin(_station_region, Station.region_id == _station_region.id)
        .where(in_scope(effective_region, scope))
    )


def device_on_gateway(session: Session, scope: Scope, device_id: str, gateway_id: str) -> bool:
    """The device lies in the scope and is registered to the gateway."""
    stmt = device_view(scope, contact=False).where(Device.id == device_id, Device.gateway_id == gateway_id)
    return session.execute(stmt).first() is not None


@functools.cache
def catalog_models() -> frozenset[str]:
    """Model names of the device catalog, the one the gateways load. A catalog that does not
    load is a broken installation: ``ConfigError``, never a silent skip of the check."""
    try:
        return frozenset(load_catalog())
    except CatalogError as exc:
        raise ConfigError("the device catalog cannot be loaded: %s" % exc) from None


def _panel_fields(dev: Device, data: dict[str, Any]) -> None:
    """An alarm panel's AES key (hex, stored lower case) and zone names (zone numbers without
    leading zeros, as the receiver looks them up)."""
    if not dev.id.startswith("sia-") and (data.get("key") is not None or data.get("zones") is not None):
        raise Invalid("key and zones belong to alarm panels (sia-<account>)", reason="not_a_panel")
    if "key" in data:
        dev.key = data["key"].lower() if data["key"] is not None else None
    if "zones" in data:
        zones = data["zones"]
        dev.zones = {(k.lstrip("0") or "0"): v for k, v in zones.items()} if zones is not None else None


def upsert_device(session: Session, device_id: str, data: dict[str, Any], scope: Scope = SYSTEM) -> Device:
    """Only the keys present in ``data`` change: one call serves create and (partial) update.

    A gateway or region named in ``data`` outside ``scope`` is as unknown as one that does not
    exist."""
    try:
        check_device_id(device_id)
    except ProtocolError as exc:
        raise Invalid(str(exc), reason="bad_device_id") from None
    dev = session.get(Device, device_id)
    if dev is None:
        dev = Device(id=device_id)
        session.add(dev)
    if "gateway" in data:
        if data["gateway"] is not None and gateway_in_scope(session, scope, data["gateway"]) is None:
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
        region = region_by_path(session, data["region"], scope)
        dev.region_id = region.id if region is not None else None
    if "holder_contact" in data:
        dev.holder_contact = data["holder_contact"]
    if "key" in data or "zones" in data:
        _panel_fields(dev, data)
    set_location(data, dev)
    if any(k in data for k in ("lat", "lon")) or dev.grid_id is None:
        grid = locate_grid(session, dev.lon, dev.lat) if dev.lat is not None and dev.lon is not None else None
        dev.grid_id = grid.id if grid is not None else None
    session.flush()
    return dev
