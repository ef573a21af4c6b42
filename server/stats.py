"""KPIs for a region subtree and a period (docs/server.md, Statistics)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import Case, CaseAction, EventRow, Gateway, Region, Station
from server.scope import Scope, in_scope

ACCEPT_TARGET = 60.0  # seconds: the share of alarms accepted within a minute is the headline figure


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute(session: Session, scope: Scope, since: datetime, until: datetime) -> dict[str, Any]:
    """Cases opened in [since, until) within the scope; events of that period likewise."""
    alarms = (
        session.scalar(
            select(func.count())
            .select_from(EventRow)
            .where(
                in_scope(EventRow.region_path, scope),
                EventRow.priority == "alarm",
                EventRow.at >= since,
                EventRow.at < until,
            )
        )
        or 0
    )
    cases = list(
        session.scalars(
            select(Case).where(
                in_scope(Case.region_path, scope), Case.opened_at >= since, Case.opened_at < until
            )
        )
    )
    ids = [c.id for c in cases]
    actions: dict[int, list[CaseAction]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for a in session.scalars(
            select(CaseAction).where(CaseAction.case_id.in_(ids[start : start + 500])).order_by(CaseAction.id)
        ):
            actions[a.case_id].append(a)
    alarm_cases = [c for c in cases if c.category == "alarm"]
    closed = [c for c in alarm_cases if not c.is_open]
    accept_s: list[float] = []
    for c in alarm_cases:
        first = next((a for a in actions[c.id] if a.action == "accept"), None)
        if first is not None:
            accept_s.append((first.at - c.opened_at).total_seconds())
    close_s = [(c.closed_at - c.opened_at).total_seconds() for c in closed if c.closed_at is not None]
    kinds = {c.id: {a.action for a in actions[c.id]} for c in alarm_cases}
    false_alarms = sum(1 for c in closed if c.resolution == "false_alarm")
    on_time = sum(1 for c in closed if "escalate" not in kinds[c.id])
    scores = [c.satisfaction for c in alarm_cases if c.satisfaction is not None]
    return {
        "since": since,
        "until": until,
        "region": scope.region_path,
        "alarms": alarms,
        "cases": len(alarm_cases),
        "maintenance_cases": len(cases) - len(alarm_cases),
        "false_alarm_rate": _ratio(false_alarms, len(closed)),
        "time_to_accept_s": {
            "median": statistics.median(accept_s) if accept_s else None,
            "p90": _pct(accept_s, 90),
            "within_60s": _ratio(sum(1 for s in accept_s if s <= ACCEPT_TARGET), len(alarm_cases)),
        },
        "time_to_close_s": {
            "median": statistics.median(close_s) if close_s else None,
            "p90": _pct(close_s, 90),
        },
        "closure_rate": _ratio(len(closed), len(alarm_cases)),
        "on_time_rate": _ratio(on_time, len(closed)),
        "rework_rate": _ratio(sum(1 for c in alarm_cases if "return" in kinds[c.id]), len(alarm_cases)),
        "extension_rate": _ratio(sum(1 for c in alarm_cases if "extend" in kinds[c.id]), len(alarm_cases)),
        "satisfaction": round(statistics.mean(scores), 2) if scores else None,
        "device_health": _health(session, scope),
    }


def _health(session: Session, scope: Scope) -> dict[str, int]:
    open_maint = (
        session.scalar(
            select(func.count())
            .select_from(Case)
            .where(in_scope(Case.region_path, scope), Case.is_open.is_(True), Case.category == "maintenance")
        )
        or 0
    )
    offline = (
        session.scalar(
            select(func.count())
            .select_from(Gateway)
            .outerjoin(Station, Gateway.station_id == Station.id)
            .outerjoin(Region, Station.region_id == Region.id)
            .where(in_scope(Region.path, scope), Gateway.status == "offline")
        )
        or 0
    )
    return {"open_maintenance_cases": open_maint, "gateways_offline": offline}
