"""Regions: the tree's view, upsert, GeoJSON import, locating a point in a grid."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, aliased

from server.db.models import LEVELS, Region
from server.errors import Invalid
from server.geo import check_geometry, contains
from server.scope import SYSTEM, Scope, escape_like, in_scope

REGION_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
MAX_PATH = 400  # regions.path
REGION_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")  # one line, as long as regions.name holds

_parent = aliased(Region)


def region_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Regions inside the scope, with their parent's path: the fields of ``RegionOut``."""
    return (
        select(
            Region.id,
            Region.path,
            Region.code,
            Region.name,
            Region.level,
            _parent.path.label("parent"),
            Region.geometry,
        )
        .outerjoin(_parent, Region.parent_id == _parent.id)
        .where(in_scope(Region.path, scope))
    )


def children_of(parent: str) -> list[ColumnElement[bool]]:
    """Direct children only: one level below ``parent``."""
    return [
        Region.path.like(escape_like(parent) + "/%", escape="\\"),
        Region.path.not_like(escape_like(parent) + "/%/%", escape="\\"),
    ]


def region_path(session: Session, region_id: int | None) -> str | None:
    region = session.get(Region, region_id) if region_id is not None else None
    return region.path if region is not None else None


def find_region(session: Session, path: str) -> Region | None:
    return session.scalars(select(Region).where(Region.path == path)).one_or_none()


def region_by_path(session: Session, path: str | None, scope: Scope = SYSTEM) -> Region | None:
    """The region at ``path`` (None for None); an unknown path is invalid input, and so is one
    outside ``scope``: it is as unknown as one that does not exist."""
    if path is None:
        return None
    region = find_region(session, path)
    if region is None or not scope.covers(region.path):
        raise Invalid("unknown region %r" % path, reason="unknown_region")
    return region


def upsert_region(
    session: Session, path: str, name: str, level: str | None = None, geometry: dict[str, Any] | None = None
) -> Region:
    """Levels follow depth (county, township, village, grid); a grid belongs to one village."""
    if not isinstance(path, str) or not isinstance(name, str) or not name:
        raise Invalid("a region needs a path and a name", reason="bad_region")
    if not REGION_NAME.fullmatch(name):
        raise Invalid("a region name is one line of at most 200 characters", reason="bad_region")
    if len(path) > MAX_PATH:
        raise Invalid("a region path has at most %d characters" % MAX_PATH, reason="bad_region")
    if level is not None and level not in LEVELS:
        raise Invalid("a region level is one of %s" % ", ".join(LEVELS), reason="bad_region")
    codes = path.split("/")
    if not all(REGION_CODE.fullmatch(c) for c in codes):
        raise Invalid("bad region path %r (codes: letters, digits, '-')" % path, reason="bad_region")
    if len(codes) > len(LEVELS):
        raise Invalid("region path %r is deeper than a grid" % path, reason="bad_region")
    expected = LEVELS[len(codes) - 1]
    if level is not None and level != expected:
        raise Invalid(
            "%r is at depth %d, a %s, not a %s" % (path, len(codes), expected, level), reason="bad_region"
        )
    if geometry is not None:
        check_geometry(geometry)
    parent = region_by_path(session, "/".join(codes[:-1])) if len(codes) > 1 else None
    region = session.scalars(select(Region).where(Region.path == path)).one_or_none()
    if region is None:
        region = Region(path=path, code=codes[-1])
        session.add(region)
    region.name = name
    region.level = expected
    region.parent_id = parent.id if parent is not None else None
    if geometry is not None:
        region.geometry = geometry
    session.flush()
    return region


RegionItem = tuple[str, str, str | None, dict[str, Any] | None]  # path, name, level, geometry


def read_geojson(doc: Any) -> list[RegionItem]:
    """The regions of a FeatureCollection whose features carry ``properties.path`` and
    ``properties.name`` (``level`` optional), parents before children whatever the order."""
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise Invalid("expected a GeoJSON FeatureCollection", reason="bad_geojson")
    items: list[RegionItem] = []
    for i, feature in enumerate(doc["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict) or not isinstance(props.get("path"), str) or not props.get("name"):
            raise Invalid("feature %d needs properties.path and properties.name" % i, reason="bad_geojson")
        items.append((props["path"], str(props["name"]), props.get("level"), feature.get("geometry")))
    items.sort(key=lambda it: it[0].count("/"))
    return items


def import_geojson(session: Session, doc: Any) -> list[Region]:
    return upsert_regions(session, read_geojson(doc))


def upsert_regions(session: Session, items: list[RegionItem]) -> list[Region]:
    return [upsert_region(session, path, name, level, geom) for path, name, level, geom in items]


def locate_grid(session: Session, lon: float, lat: float) -> Region | None:
    """The grid whose polygon holds the point (the deepest region with one, if no grid has)."""
    best: Region | None = None
    for region in session.scalars(select(Region).where(Region.geometry.is_not(None))):
        assert region.geometry is not None
        if contains(region.geometry, lon, lat) and (
            best is None or region.path.count("/") > best.path.count("/")
        ):
            best = region
    return best
