"""Stations: the village service stations where gateways stand."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.bounds import RegionPath, StationCode
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import StationIn, StationOut
from server.data.regions import region_path
from server.data.stations import station_by_code, station_view, upsert_station
from server.db.models import Region, Station
from server.errors import NotFound
from server.scope import SYSTEM, in_subtree, require_admin, require_destination, require_within

router = APIRouter(tags=["stations"], responses=ERRORS)


@router.get("/stations", response_model=Page[StationOut])
def list_stations(
    svc: ServicesDep,
    scope: ScopeDep,
    region: RegionPath | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[StationOut]:
    stmt = station_view(scope).order_by(Station.code)
    if region is not None:
        stmt = stmt.where(in_subtree(Region.path, region))
    with svc.db.read() as s:
        return paginate(s, stmt, StationOut, limit, offset)


@router.get("/stations/{code}", response_model=StationOut)
def read_station(code: StationCode, svc: ServicesDep, scope: ScopeDep) -> StationOut:
    with svc.db.read() as s:
        row = s.execute(station_view(scope).where(Station.code == code)).one_or_none()
        if row is None:
            raise NotFound("station %s not found" % code)
        return StationOut.model_validate(row)


@router.put(
    "/stations/{code}",
    response_model=StationOut,
    summary="Create or update a station; fields left out stay as they are",
)
def save_station(code: StationCode, body: StationIn, svc: ServicesDep, scope: ScopeDep) -> StationOut:
    require_admin(scope)
    what = "station %s" % code
    with svc.db.write() as s:
        if (existing := station_by_code(s, code)) is not None:
            require_within(scope, region_path(s, existing.region_id), what)  # where it is now
        upsert_station(s, code, body.model_dump(exclude_unset=True), scope)
        row = s.execute(station_view(SYSTEM).where(Station.code == code)).one()
        require_destination(scope, row.region, what)  # where it goes, named or found from lat/lon
        return StationOut.model_validate(row)
