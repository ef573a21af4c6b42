"""Events: the raw record of what the gateways sent."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import EventOut
from server.data.events import event_list

router = APIRouter(tags=["events"], responses=ERRORS)


def utc(at: datetime) -> datetime:
    """A time without a zone in a query means UTC, like every time on the wire."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


@router.get("/events", response_model=Page[EventOut])
def list_events(
    svc: ServicesDep,
    scope: ScopeDep,
    device: str | None = None,
    gateway: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[EventOut]:
    stmt = event_list(
        scope,
        device=device,
        gateway=gateway,
        kind=kind,
        since=utc(since) if since is not None else None,
        until=utc(until) if until is not None else None,
    )
    with svc.db.read() as s:
        return paginate(s, stmt, EventOut, limit, offset)
