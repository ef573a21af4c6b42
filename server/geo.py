"""GeoJSON polygons: validation and point in polygon (lon/lat, planar; grids are small)."""

from __future__ import annotations

from typing import Any

from server.errors import Invalid

Ring = list[tuple[float, float]]


def _ring(raw: Any) -> Ring:
    if not isinstance(raw, list) or len(raw) < 4:
        raise Invalid("a polygon ring needs at least 4 positions", reason="bad_geometry")
    out: Ring = []
    for pos in raw:
        if (
            not isinstance(pos, list)
            or len(pos) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
        ):
            raise Invalid("a position is [lon, lat]", reason="bad_geometry")
        # Compared before conversion: an integer too large for a float must not get that far.
        if not (-180 <= pos[0] <= 180 and -90 <= pos[1] <= 90):
            raise Invalid("a position is outside lon/lat range", reason="bad_geometry")
        out.append((float(pos[0]), float(pos[1])))
    if out[0] != out[-1]:
        raise Invalid("a polygon ring must end where it starts", reason="bad_geometry")
    return out


def polygons(geometry: Any) -> list[list[Ring]]:
    """Polygon or MultiPolygon as a list of polygons, each a list of rings (outer first)."""
    if not isinstance(geometry, dict):
        raise Invalid("geometry must be a GeoJSON object", reason="bad_geometry")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon" and isinstance(coords, list) and coords:
        return [[_ring(r) for r in coords]]
    if kind == "MultiPolygon" and isinstance(coords, list) and coords:
        return [[_ring(r) for r in poly] for poly in coords if isinstance(poly, list) and poly]
    raise Invalid("geometry must be a Polygon or MultiPolygon", reason="bad_geometry")


def check_geometry(geometry: Any) -> dict[str, Any]:
    polygons(geometry)
    assert isinstance(geometry, dict)
    return geometry


def _in_ring(lon: float, lat: float, ring: Ring) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def contains(geometry: dict[str, Any], lon: float, lat: float) -> bool:
    for poly in polygons(geometry):
        outer, holes = poly[0], poly[1:]
        if _in_ring(lon, lat, outer) and not any(_in_ring(lon, lat, h) for h in holes):
            return True
    return False
