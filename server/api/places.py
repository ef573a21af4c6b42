"""Regions, stations, gateways, devices: the places and things alarms come from."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, aliased

from server.api.cases import ERRORS
from server.api.deps import ScopeDep, ServicesDep
from server.api.schemas import (
    CommandIn,
    CommandOut,
    Credentials,
    DeviceIn,
    DeviceOut,
    GatewayIn,
    GatewayOut,
    Page,
    RegionIn,
    RegionOut,
    StationIn,
    StationOut,
)
from server.commands import new_command
from server.db.models import CommandRow, Device, Gateway, Region, Station
from server.errors import Forbidden, NotFound
from server.mqtt_auth import issue_credentials, write_auth_files
from server.publish import dumps
from server.regions import import_geojson, locate_grid, upsert_region
from server.registry import station_by_code, upsert_device, upsert_gateway, upsert_station
from server.scope import Scope, escape_like, in_scope, require_admin
from server.services import Services

log = logging.getLogger(__name__)
router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
CONTACT_ROLES = frozenset({"admin", "duty_officer", "station_staff"})


def _page(session: Session, stmt: Any, limit: int, offset: int) -> tuple[int, list[Any]]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return total, list(session.execute(stmt.limit(limit).offset(offset)).all())


def _check_write_scope(scope: Scope, path: str | None) -> None:
    require_admin(scope)
    if not scope.covers(path):
        raise Forbidden("outside your region %s" % scope.region_path)


# -- regions ---------------------------------------------------------------------------------


def region_out(r: Region, parent_path: str | None) -> RegionOut:
    return RegionOut(
        id=r.id, path=r.path, code=r.code, name=r.name, level=r.level, parent=parent_path, geometry=r.geometry
    )


def _parent(path: str) -> str | None:
    return path.rpartition("/")[0] or None


@router.get("/regions", response_model=Page[RegionOut], responses=ERRORS, tags=["regions"])
def list_regions(
    svc: ServicesDep,
    scope: ScopeDep,
    level: str | None = None,
    parent: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[RegionOut]:
    cond: list[ColumnElement[bool]] = [in_scope(Region.path, scope)]
    if level is not None:
        cond.append(Region.level == level)
    if parent is not None:
        # Direct children only: one more level below the parent.
        cond.append(Region.path.like(escape_like(parent) + "/%", escape="\\"))
        cond.append(Region.path.not_like(escape_like(parent) + "/%/%", escape="\\"))
    with svc.db.read() as s:
        total, rows = _page(s, select(Region).where(*cond).order_by(Region.path), limit, offset)
        return Page[RegionOut](
            items=[region_out(r, _parent(r.path)) for (r,) in rows], total=total, limit=limit, offset=offset
        )


@router.get(
    "/regions/locate",
    response_model=RegionOut,
    responses=ERRORS,
    tags=["regions"],
    summary="The grid whose polygon holds a point",
)
def locate(
    svc: ServicesDep,
    scope: ScopeDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> RegionOut:
    with svc.db.read() as s:
        grid = locate_grid(s, lon, lat)
        if grid is None or not scope.covers(grid.path):
            raise NotFound("no grid holds %.6f, %.6f" % (lat, lon))
        return region_out(grid, _parent(grid.path))


@router.get("/regions/{region_id}", response_model=RegionOut, responses=ERRORS, tags=["regions"])
def read_region(region_id: int, svc: ServicesDep, scope: ScopeDep) -> RegionOut:
    with svc.db.read() as s:
        r = s.get(Region, region_id)
        if r is None or not scope.covers(r.path):
            raise NotFound("region %d not found" % region_id)
        return region_out(r, _parent(r.path))


@router.post(
    "/regions",
    response_model=RegionOut,
    responses=ERRORS,
    tags=["regions"],
    summary="Create or update a region by path",
)
def save_region(body: RegionIn, svc: ServicesDep, scope: ScopeDep) -> RegionOut:
    _check_write_scope(scope, body.path)
    with svc.db.write() as s:
        r = upsert_region(s, body.path, body.name, body.level, body.geometry)
        return region_out(r, _parent(r.path))


@router.post(
    "/regions/import",
    response_model=list[RegionOut],
    responses=ERRORS,
    tags=["regions"],
    summary="Import a GeoJSON FeatureCollection (properties: path, name, level)",
)
def import_regions(
    doc: Annotated[dict[str, Any], Body()], svc: ServicesDep, scope: ScopeDep
) -> list[RegionOut]:
    require_admin(scope)
    with svc.db.write() as s:
        regions = import_geojson(s, doc)
        for r in regions:
            _check_write_scope(scope, r.path)
        return [region_out(r, _parent(r.path)) for r in regions]


# -- stations --------------------------------------------------------------------------------


def _station_stmt(scope: Scope) -> Select[Station, str]:
    return (
        select(Station, Region.path)
        .outerjoin(Region, Station.region_id == Region.id)
        .where(in_scope(Region.path, scope))
    )


def station_out(st: Station, path: str | None) -> StationOut:
    return StationOut(code=st.code, name=st.name, region=path, lat=st.lat, lon=st.lon, address=st.address)


@router.get("/stations", response_model=Page[StationOut], responses=ERRORS, tags=["stations"])
def list_stations(
    svc: ServicesDep, scope: ScopeDep, region: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> Page[StationOut]:
    stmt = _station_stmt(scope).order_by(Station.code)
    if region is not None:
        stmt = stmt.where(in_scope(Region.path, Scope(None, "", "", region)))
    with svc.db.read() as s:
        total, rows = _page(s, stmt, limit, offset)
        return Page[StationOut](
            items=[station_out(st, p) for st, p in rows], total=total, limit=limit, offset=offset
        )


@router.get("/stations/{code}", response_model=StationOut, responses=ERRORS, tags=["stations"])
def read_station(code: str, svc: ServicesDep, scope: ScopeDep) -> StationOut:
    with svc.db.read() as s:
        row = s.execute(_station_stmt(scope).where(Station.code == code)).one_or_none()
        if row is None:
            raise NotFound("station %s not found" % code)
        return station_out(row[0], row[1])


@router.put(
    "/stations/{code}",
    response_model=StationOut,
    responses=ERRORS,
    tags=["stations"],
    summary="Create or update a station; fields left out stay as they are",
)
def save_station(code: str, body: StationIn, svc: ServicesDep, scope: ScopeDep) -> StationOut:
    require_admin(scope)
    with svc.db.write() as s:
        existing = station_by_code(s, code)
        if existing is not None:
            _check_write_scope(scope, _region_path(s, existing.region_id))
        st = upsert_station(s, code, body.model_dump(exclude_unset=True))
        path = _region_path(s, st.region_id)
        _check_write_scope(scope, path)
        return station_out(st, path)


def _region_path(s: Session, region_id: int | None) -> str | None:
    r = s.get(Region, region_id) if region_id is not None else None
    return r.path if r is not None else None


# -- gateways --------------------------------------------------------------------------------


def _gateway_stmt(scope: Scope) -> Select[Gateway, str, str]:
    return (
        select(Gateway, Station.code, Region.path)
        .outerjoin(Station, Gateway.station_id == Station.id)
        .outerjoin(Region, Station.region_id == Region.id)
        .where(in_scope(Region.path, scope))
    )


def gateway_out(gw: Gateway, station: str | None) -> GatewayOut:
    return GatewayOut(
        id=gw.id,
        station=station,
        status=gw.status,
        status_at=gw.status_at,
        has_credentials=gw.secret_hash is not None,
    )


@router.get("/gateways", response_model=Page[GatewayOut], responses=ERRORS, tags=["gateways"])
def list_gateways(
    svc: ServicesDep,
    scope: ScopeDep,
    station: str | None = None,
    status: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[GatewayOut]:
    stmt = _gateway_stmt(scope).order_by(Gateway.id)
    if station is not None:
        stmt = stmt.where(Station.code == station)
    if status is not None:
        stmt = stmt.where(Gateway.status == status)
    with svc.db.read() as s:
        total, rows = _page(s, stmt, limit, offset)
        return Page[GatewayOut](
            items=[gateway_out(g, c) for g, c, _ in rows], total=total, limit=limit, offset=offset
        )


@router.get("/gateways/{gateway_id}", response_model=GatewayOut, responses=ERRORS, tags=["gateways"])
def read_gateway(gateway_id: str, svc: ServicesDep, scope: ScopeDep) -> GatewayOut:
    with svc.db.read() as s:
        row = s.execute(_gateway_stmt(scope).where(Gateway.id == gateway_id)).one_or_none()
        if row is None:
            raise NotFound("gateway %s not found" % gateway_id)
        return gateway_out(row[0], row[1])


@router.put(
    "/gateways/{gateway_id}",
    response_model=GatewayOut,
    responses=ERRORS,
    tags=["gateways"],
    summary="Register a gateway or move it to another station",
)
def save_gateway(gateway_id: str, body: GatewayIn, svc: ServicesDep, scope: ScopeDep) -> GatewayOut:
    require_admin(scope)
    with svc.db.write() as s:
        gw = upsert_gateway(s, gateway_id, body.model_dump(exclude_unset=True))
        st = s.get(Station, gw.station_id) if gw.station_id is not None else None
        _check_write_scope(scope, _region_path(s, st.region_id) if st is not None else None)
        return gateway_out(gw, st.code if st is not None else None)


@router.post(
    "/gateways/{gateway_id}/credentials",
    response_model=Credentials,
    responses=ERRORS,
    tags=["gateways"],
    summary="Issue a new broker password for the gateway (shown only once)",
)
def new_credentials(gateway_id: str, svc: ServicesDep, scope: ScopeDep) -> Credentials:
    require_admin(scope)
    with svc.db.write() as s:
        row = s.execute(_gateway_stmt(scope).where(Gateway.id == gateway_id)).one_or_none()
        if row is None:
            raise NotFound("gateway %s not found" % gateway_id)
        password = issue_credentials(row[0])
        s.flush()
        _write_broker_files(svc, s)
    log.info("new broker credentials for gateway %s issued by %s", gateway_id, scope.username)
    return Credentials(
        username=gateway_id, password=password, topic_prefix="%s/gw/%s" % (svc.topics.prefix, gateway_id)
    )


COMMAND_ROLES = frozenset({"admin", "duty_officer", "station_staff"})


def command_out(row: CommandRow) -> CommandOut:
    return CommandOut(
        id=row.id,
        gateway=row.gateway_id,
        op=row.op,
        payload=row.payload,
        case_id=row.case_id,
        sent_by=row.sent_by,
        sent_at=row.sent_at,
        ok=row.ok,
        result=row.result,
        result_at=row.result_at,
    )


@router.post(
    "/gateways/{gateway_id}/commands",
    response_model=CommandOut,
    responses=ERRORS,
    tags=["gateways"],
    summary="Send a command (siren, relay, identify, start_pairing, ...) to a station's gateway",
)
def send_command(gateway_id: str, body: CommandIn, svc: ServicesDep, scope: ScopeDep) -> CommandOut:
    if scope.role not in COMMAND_ROLES:
        raise Forbidden("role %s may not send commands" % scope.role)
    args = body.model_dump(exclude={"op"}, exclude_none=True)
    if body.op in ("start_pairing", "reload_config"):
        args.pop("device", None)  # gateway-wide operations
    with svc.db.write() as s:
        if s.execute(_gateway_stmt(scope).where(Gateway.id == gateway_id)).one_or_none() is None:
            raise NotFound("gateway %s not found" % gateway_id)
        cmd = new_command(s, gateway_id, body.op, args, scope.username, svc.clock())
        s.flush()
        row = s.get(CommandRow, cmd.payload["id"])
        assert row is not None
        out = command_out(row)
    # Recorded first, published after the commit: a result can always find its command.
    svc.publisher.publish(svc.topics.cmd(gateway_id), dumps(cmd.payload))
    svc.metrics.inc("commands_published")
    return out


@router.get("/commands/{command_id}", response_model=CommandOut, responses=ERRORS, tags=["gateways"])
def read_command(command_id: str, svc: ServicesDep, scope: ScopeDep) -> CommandOut:
    with svc.db.read() as s:
        row = s.get(CommandRow, command_id)
        if (
            row is None
            or s.execute(_gateway_stmt(scope).where(Gateway.id == row.gateway_id)).one_or_none() is None
        ):
            raise NotFound("command %s not found" % command_id)
        return command_out(row)


def _write_broker_files(svc: Services, s: Session) -> None:
    directory = svc.settings.mqtt_auth_dir
    if directory is None:
        return
    login = svc.settings.mqtt_login
    write_auth_files(
        s, directory, svc.topics.prefix, login[0] if login else None, login[1] if login else None
    )


# -- devices ---------------------------------------------------------------------------------

_override, _grid, _station_region = aliased(Region), aliased(Region), aliased(Region)
_effective = func.coalesce(_override.path, _grid.path, _station_region.path)


def _device_stmt(scope: Scope) -> Select[Device, str, str]:
    return (
        select(Device, _effective, _override.path)
        .outerjoin(_override, Device.region_id == _override.id)
        .outerjoin(_grid, Device.grid_id == _grid.id)
        .outerjoin(Gateway, Device.gateway_id == Gateway.id)
        .outerjoin(Station, Gateway.station_id == Station.id)
        .outerjoin(_station_region, Station.region_id == _station_region.id)
        .where(in_scope(_effective, scope))
    )


def device_out(d: Device, path: str | None, override: str | None, contact: bool) -> DeviceOut:
    return DeviceOut(
        id=d.id,
        gateway=d.gateway_id,
        model=d.model,
        name=d.name,
        region=path,
        region_override=override,
        lat=d.lat,
        lon=d.lon,
        address=d.address,
        holder_contact=d.holder_contact if contact else None,
    )


@router.get("/devices", response_model=Page[DeviceOut], responses=ERRORS, tags=["devices"])
def list_devices(
    svc: ServicesDep,
    scope: ScopeDep,
    gateway: str | None = None,
    station: str | None = None,
    model: str | None = None,
    region: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DeviceOut]:
    stmt = _device_stmt(scope).order_by(Device.id)
    if gateway is not None:
        stmt = stmt.where(Device.gateway_id == gateway)
    if station is not None:
        stmt = stmt.where(Station.code == station)
    if model is not None:
        stmt = stmt.where(Device.model == model)
    if region is not None:
        stmt = stmt.where(in_scope(_effective, Scope(None, "", "", region)))
    with svc.db.read() as s:
        total, rows = _page(s, stmt, limit, offset)
        return Page[DeviceOut](
            items=[device_out(d, p, o, False) for d, p, o in rows], total=total, limit=limit, offset=offset
        )


@router.get("/devices/{device_id}", response_model=DeviceOut, responses=ERRORS, tags=["devices"])
def read_device(device_id: str, svc: ServicesDep, scope: ScopeDep) -> DeviceOut:
    with svc.db.read() as s:
        row = s.execute(_device_stmt(scope).where(Device.id == device_id)).one_or_none()
        if row is None:
            raise NotFound("device %s not found" % device_id)
        contact = scope.role in CONTACT_ROLES
        if contact and row[0].holder_contact:
            # The holder's contact is personal data: every read leaves a trace.
            log.info("holder contact of %s read by %s (%s)", device_id, scope.username, scope.role)
        return device_out(row[0], row[1], row[2], contact)


@router.put(
    "/devices/{device_id}",
    response_model=DeviceOut,
    responses=ERRORS,
    tags=["devices"],
    summary="Create or update a device; fields left out stay as they are",
)
def save_device(device_id: str, body: DeviceIn, svc: ServicesDep, scope: ScopeDep) -> DeviceOut:
    require_admin(scope)
    with svc.db.write() as s:
        upsert_device(s, device_id, body.model_dump(exclude_unset=True))
        row = s.execute(_device_stmt(Scope(None, "", "", None)).where(Device.id == device_id)).one()
        _check_write_scope(scope, row[1])
        return device_out(row[0], row[1], row[2], True)
