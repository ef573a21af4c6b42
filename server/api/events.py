"""Events: the raw record of what the gateways sent."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.bounds import DeviceId, GatewayId, Kind, UtcTime
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import EventOut
from server.data.events import event_list

router = APIRouter(tags=["events"], responses=ERRORS)


@router.get("/events", response_model=Page[EventOut])
def list_events(
    svc: ServicesDep,
    scope: ScopeDep,
    device: DeviceId | None = None,
    gateway: GatewayId | None = None,
    kind: Kind | None = None,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[EventOut]:
    stmt = event_list(scope, device=device, gateway=gateway, kind=kind, since=since, until=until)
    with svc.db.read() as s:
        return paginate(s, stmt, EventOut, limit, offset)
