"""Statistics: the KPIs of a region subtree for a period."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.bounds import RegionPath, UtcTime
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.schemas import StatsOut
from server.errors import NotFound
from server.scope import Scope
from server.stats import compute

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
) -> StatsOut:
    if region is not None:
        if not scope.covers(region):
            raise NotFound("region %s not found" % region)
        scope = Scope(scope.user_id, scope.username, scope.role, region)
    with svc.db.read() as s:
        return StatsOut.model_validate(compute(s, scope, since, until))
