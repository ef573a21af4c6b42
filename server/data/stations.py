"""Stations: the view, lookup by code, create or update by code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.data.location import set_location
from server.data.regions import locate_grid, region_by_path
from server.db.models import Region, Station
from server.errors import Invalid
from server.scope import SYSTEM, Scope, in_scope


def station_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Stations whose region lies in the scope: the fields of ``StationOut``."""
    return (
        select(
            Station.code,
            Station.name,
            Region.path.label("region"),
            Station.lat,
            Station.lon,
            Station.address,
        )
        .outerjoin(Region, Station.region_id == Region.id)
        .where(in_scope(Region.path, scope))
    )


def station_by_code(session: Session, code: str) -> Station | None:
    return session.scalars(select(Station).where(Station.code == code)).one_or_none()


def station_in_scope(session: Session, scope: Scope, code: str) -> Station | None:
    """The station, if its region lies in the scope."""
    return session.scalars(
        select(Station)
        .outerjoin(Region, Station.region_id == Region.id)
        .where(Station.code == code, in_scope(Region.path, scope))
    ).one_or_none()


def upsert_station(session: Session, code: str, data: dict[str, Any], scope: Scope = SYSTEM) -> Station:
    """Only the keys present in ``data`` change: one call serves create and (partial) update.

    A region named in ``data`` outside ``scope`` is as unknown as one that does not exist."""
    st = station_by_code(session, code)
    if st is None:
        if not data.get("name"):
            raise Invalid("a new station needs a name", reason="bad_station")
        st = Station(code=code)
        session.add(st)
    if data.get("name"):
        st.name = str(data["name"])
    set_location(data, st)
    if data.get("region") is not None:
        region = region_by_path(session, data["region"], scope)
        st.region_id = region.id if region is not None else None
    elif "region" in data or st.region_id is None:
        # No explicit region: the grid its location falls in.
        grid = locate_grid(session, st.lon, st.lat) if st.lat is not None and st.lon is not None else None
        st.region_id = grid.id if grid is not None else None
    session.flush()
    return st
