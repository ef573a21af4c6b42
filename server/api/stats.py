"""Statistics: the KPIs of a region subtree for a period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.bounds import RegionPath, TimeZone, UtcTime
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.schemas import StatsOut
from server.stats import compute, narrowed, time_zone

router = APIRouter(tags=["stats"], responses=ERRORS)


@router.get(
    "/stats",
    response_model=StatsOut,
    summary="KPIs of your region subtree (or a part of it) for a period",
)
def stats(
    svc: ServicesDep,
    scope: ScopeDep,
    since: UtcTime,
    until: UtcTime,
    region: RegionPath | None = None,
    tz: Annotated[TimeZone, Query(description="IANA time zone for day and week buckets")] = "UTC",
) -> StatsOut:
    zone = time_zone(tz)
    with svc.db.read() as s:
        return StatsOut.model_validate(compute(s, narrowed(scope, region), since, until, zone))
