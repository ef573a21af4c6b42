"""Regions: the grid hierarchy (county > township > village > grid) with GeoJSON geometry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from sqlalchemy import ColumnElement

from server.api.bounds import RegionPath, RowId, State
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import RegionIn, RegionOut
from server.data.regions import (
    children_of,
    locate_grid,
    read_geojson,
    region_view,
    upsert_region,
    upsert_regions,
)
from server.db.models import Region
from server.errors import NotFound
from server.scope import require_admin, require_region_below

router = APIRouter(tags=["regions"], responses=ERRORS)


@router.get("/regions", response_model=Page[RegionOut])
def list_regions(
    svc: ServicesDep,
    scope: ScopeDep,
    level: State | None = None,
    parent: RegionPath | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[RegionOut]:
    cond: list[ColumnElement[bool]] = []
    if level is not None:
        cond.append(Region.level == level)
    if parent is not None:
        cond.extend(children_of(parent))
    with svc.db.read() as s:
        stmt = region_view(scope).where(*cond).order_by(Region.path)
        return paginate(s, stmt, RegionOut, limit, offset)


@router.get("/regions/locate", response_model=RegionOut, summary="The grid whose polygon holds a point")
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
        return RegionOut.model_validate(s.execute(region_view(scope).where(Region.id == grid.id)).one())


@router.get("/regions/{region_id}", response_model=RegionOut)
def read_region(region_id: RowId, svc: ServicesDep, scope: ScopeDep) -> RegionOut:
    with svc.db.read() as s:
        row = s.execute(region_view(scope).where(Region.id == region_id)).one_or_none()
        if row is None:
            raise NotFound("region %d not found" % region_id)
        return RegionOut.model_validate(row)


@router.post("/regions", response_model=RegionOut, summary="Create or update a region by path")
def save_region(body: RegionIn, svc: ServicesDep, scope: ScopeDep) -> RegionOut:
    require_admin(scope)
    require_region_below(scope, body.path, "region %s" % body.path)
    with svc.db.write() as s:
        region = upsert_region(s, body.path, body.name, body.level, body.geometry)
        return RegionOut.model_validate(s.execute(region_view(scope).where(Region.id == region.id)).one())


@router.post(
    "/regions/import",
    response_model=list[RegionOut],
    summary="Import a GeoJSON FeatureCollection (properties: path, name, level)",
)
def import_regions(
    doc: Annotated[dict[str, Any], Body()], svc: ServicesDep, scope: ScopeDep
) -> list[RegionOut]:
    require_admin(scope)
    items = read_geojson(doc)
    for path, *_ in items:  # all of them checked before any is written
        require_region_below(scope, path, "region %s" % path)
    with svc.db.write() as s:
        ids = [region.id for region in upsert_regions(s, items)]
        rows = {row.id: row for row in s.execute(region_view(scope).where(Region.id.in_(ids)))}
        return [RegionOut.model_validate(rows[i]) for i in ids]
