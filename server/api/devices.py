"""Devices: panic buttons, door sensors, radio sensors and alarm panels, where they are."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from server.api.bounds import DeviceId, GatewayId, ModelName, RegionPath, StationCode
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import DeviceIn, DeviceOut
from server.data.devices import device_view, effective_region, upsert_device
from server.db.models import Device, Station
from server.errors import NotFound
from server.scope import SYSTEM, in_subtree, require_admin, require_destination, require_within

log = logging.getLogger(__name__)
router = APIRouter(tags=["devices"], responses=ERRORS)

# Who may read a device holder's emergency contact (personal data; every read is logged).
CONTACT_ROLES = frozenset({"admin", "duty_officer", "station_staff"})


@router.get("/devices", response_model=Page[DeviceOut])
def list_devices(
    svc: ServicesDep,
    scope: ScopeDep,
    gateway: GatewayId | None = None,
    station: StationCode | None = None,
    model: ModelName | None = None,
    region: RegionPath | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DeviceOut]:
    stmt = device_view(scope, contact=False).order_by(Device.id)
    if gateway is not None:
        stmt = stmt.where(Device.gateway_id == gateway)
    if station is not None:
        stmt = stmt.where(Station.code == station)
    if model is not None:
        stmt = stmt.where(Device.model == model)
    if region is not None:
        stmt = stmt.where(in_subtree(effective_region, region))
    with svc.db.read() as s:
        return paginate(s, stmt, DeviceOut, limit, offset)


@router.get("/devices/{device_id}", response_model=DeviceOut)
def read_device(device_id: DeviceId, svc: ServicesDep, scope: ScopeDep) -> DeviceOut:
    contact = scope.role in CONTACT_ROLES
    with svc.db.read() as s:
        row = s.execute(device_view(scope, contact=contact).where(Device.id == device_id)).one_or_none()
        if row is None:
            raise NotFound("device %s not found" % device_id)
        if row.holder_contact:
            # The holder's contact is personal data: every read leaves a trace.
            log.info("holder contact of %s read by %s (%s)", device_id, scope.username, scope.role)
        return DeviceOut.model_validate(row)


@router.put(
    "/devices/{device_id}",
    response_model=DeviceOut,
    summary="Create or update a device; fields left out stay as they are",
)
def save_device(device_id: DeviceId, body: DeviceIn, svc: ServicesDep, scope: ScopeDep) -> DeviceOut:
    require_admin(scope)
    what = "device %s" % device_id
    with svc.db.write() as s:
        now = s.execute(device_view(SYSTEM, contact=False).where(Device.id == device_id)).one_or_none()
        if now is not None:
            require_within(scope, now.region, what)  # where it is now
        upsert_device(s, device_id, body.model_dump(exclude_unset=True), scope)
        row = s.execute(device_view(SYSTEM, contact=True).where(Device.id == device_id)).one()
        require_destination(scope, row.region, what)  # where it goes: named, by location or station
        return DeviceOut.model_validate(row)
