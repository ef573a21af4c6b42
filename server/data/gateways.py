"""Gateways: the view, where a gateway sits, create or update by id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from protocol.errors import ProtocolError
from protocol.ids import check_gateway_id
from server.data.stations import station_in_scope
from server.db.models import Gateway, Region, Station
from server.errors import Invalid
from server.scope import SYSTEM, Scope, in_scope


def gateway_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """Gateways whose station's region lies in the scope: the fields of ``GatewayOut``."""
    return (
        select(
            Gateway.id,
            Station.code.label("station"),
            Gateway.status,
            Gateway.status_at,
            Gateway.secret_hash.is_not(None).label("has_credentials"),
            Gateway.reused_seqs,
            Gateway.reused_seq_at,
        )
        .outerjoin(Station, Gateway.station_id == Station.id)
        .outerjoin(Region, Station.region_id == Region.id)
        .where(in_scope(Region.path, scope))
    )


def gateway_in_scope(session: Session, scope: Scope, gateway_id: str) -> Gateway | None:
    """The gateway, if its station's region lies in the scope."""
    return session.scalars(
        select(Gateway)
        .outerjoin(Station, Gateway.station_id == Station.id)
        .outerjoin(Region, Station.region_id == Region.id)
        .where(Gateway.id == gateway_id, in_scope(Region.path, scope))
    ).one_or_none()


def gateway_region_path(session: Session, gateway_id: str) -> str | None:
    """Where the gateway sits: its station's region (None: unknown, or at no station yet)."""
    return session.scalars(
        select(Region.path)
        .join(Station, Station.region_id == Region.id)
        .join(Gateway, Gateway.station_id == Station.id)
        .where(Gateway.id == gateway_id)
    ).one_or_none()


def upsert_gateway(session: Session, gateway_id: str, data: dict[str, Any], scope: Scope = SYSTEM) -> Gateway:
    """Only the keys present in ``data`` change: one call serves create and (partial) update.

    A station named in ``data`` outside ``scope`` is as unknown as one that does not exist."""
    try:
        check_gateway_id(gateway_id)
    except ProtocolError as exc:
        raise Invalid(str(exc), reason="bad_gateway_id") from None
    gw = session.get(Gateway, gateway_id)
    if gw is None:
        gw = Gateway(id=gateway_id)
        session.add(gw)
    if "station" in data:
        station = station_in_scope(session, scope, data["station"]) if data["station"] else None
        if data["station"] and station is None:
            raise Invalid("unknown station %r" % data["station"], reason="unknown_station")
        gw.station_id = station.id if station is not None else None
    session.flush()
    return gw
