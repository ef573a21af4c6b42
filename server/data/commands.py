"""Commands to gateways: one command, if its gateway lies in the caller's scope."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import CommandRow, Gateway, Region, Station
from server.scope import Scope, in_scope


def command_in_scope(session: Session, scope: Scope, command_id: str) -> CommandRow | None:
    return session.scalars(
        select(CommandRow)
        .join(Gateway, CommandRow.gateway_id == Gateway.id)
        .outerjoin(Station, Gateway.station_id == Station.id)
        .outerjoin(Region, Station.region_id == Region.id)
        .where(CommandRow.id == command_id, in_scope(Region.path, scope))
    ).one_or_none()
