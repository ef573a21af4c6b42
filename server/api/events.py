"""Events: the raw record of what the gateways sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from server.api.cases import ERRORS
from server.api.convert import event_out
from server.api.deps import ScopeDep, ServicesDep
from server.api.schemas import EventOut, Page, StatsOut
from server.db.models import EventRow
from server.errors import NotFound
from server.scope import Scope, in_scope

router = APIRouter(tags=["events"])


def utc(at: datetime) -> datetime:
    """A time without a zone in a query means UTC, like every time on the wire."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


@router.get("/events", response_model=Page[EventOut], responses=ERRORS)
def list_events(
    svc: ServicesDep,
    scope: ScopeDep,
    device: str | None = None,
    gateway: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[EventOut]:
    cond = [in_scope(EventRow.region_path, scope)]
    if device is not None:
        cond.append(EventRow.device_id == device)
    if gateway is not None:
        cond.append(EventRow.gateway_id == gateway)
    if kind is not None:
        cond.append(EventRow.kind == kind)
    if since is not None:
        cond.append(EventRow.at >= utc(since))
    if until is not None:
        cond.append(EventRow.at < utc(until))
    with svc.db.read() as session:
        total = session.scalar(select(func.count()).select_from(EventRow).where(*cond)) or 0
        rows = session.scalars(
            select(EventRow)
            .where(*cond)
            .order_by(EventRow.at.desc(), EventRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return Page[EventOut](items=[event_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/stats",
    response_model=StatsOut,
    tags=["stats"],
    responses=ERRORS,
    summary="KPIs of your region subtree (or a part of it) for a period",
)
def stats(
    svc: ServicesDep,
    scope: ScopeDep,
    since: datetime,
    until: datetime,
    region: str | None = None,
) -> StatsOut:
    from server.stats import compute

    if region is not None:
        if not scope.covers(region):
            raise NotFound("region %s not found" % region)
        scope = Scope(scope.user_id, scope.username, scope.role, region)
    with svc.db.read() as session:
        return StatsOut.model_validate(compute(session, scope, utc(since), utc(until)))
