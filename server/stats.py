"""KPIs for a region subtree and a period (docs/server.md, Statistics).

One call reads the period's alarm events, cases and their audit trails once, then works out the
KPIs for the whole subtree, for each bucket of the period (hours, days or weeks in the caller's
time zone) and for each direct child region, so that sibling regions can be compared row by row.
"""

from __future__ import annotations

import bisect
import functools
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from hardware.catalog import CatalogError, load_catalog
from server.db.models import Case, CaseAction, Device, EventRow, Gateway, Region, Station
from server.errors import ConfigError, Invalid, NotFound
from server.scope import Scope, escape_like, in_scope

ACCEPT_TARGET = 60.0  # seconds: the share of alarms accepted within a minute is the headline figure
MAX_PERIOD = timedelta(days=400)
HOURLY_UP_TO = timedelta(hours=48)
DAILY_UP_TO = timedelta(days=93)
# Open maintenance cases of these classes say what is wrong with a device right now.
HEALTH_CLASSES = {"missing": "missing", "battery": "low_battery", "tamper": "tamper"}


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def under(path: str | None, prefix: str | None) -> bool:
    """``path`` lies in the subtree of ``prefix`` (None: the whole tree, unassigned included)."""
    if prefix is None:
        return True
    return path is not None and (path == prefix or path.startswith(prefix + "/"))


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise Invalid("until must be after since", reason="bad_period")
        if self.until - self.since > MAX_PERIOD:
            raise Invalid("a period is at most %d days" % MAX_PERIOD.days, reason="bad_period")

    @property
    def bucket(self) -> str:
        length = self.until - self.since
        if length <= HOURLY_UP_TO:
            return "hour"
        return "day" if length <= DAILY_UP_TO else "week"

    def boundaries(self) -> list[datetime]:
        """Bucket starts from ``since``: whole hours, or the same wall-clock time on later days
        in the period's time zone (so local midnights stay midnights across a DST change)."""
        starts = [self.since.astimezone(UTC)]
        if self.bucket == "hour":
            while starts[-1] + timedelta(hours=1) < self.until:
                starts.append(starts[-1] + timedelta(hours=1))
            return starts
        days = 1 if self.bucket == "day" else 7
        wall = self.since.astimezone(self.tz).replace(tzinfo=None)
        for n in range(1, MAX_PERIOD.days + 1):
            at = (wall + timedelta(days=n * days)).replace(tzinfo=self.tz).astimezone(UTC)
            if at >= self.until:
                break
            starts.append(at)
        return starts


@dataclass(frozen=True)
class _Facts:
    """What one call reads from the database, to be cut by region and by bucket."""

    alarms: list[tuple[str | None, datetime]]  # alarm events: region path, time
    cases: list[Case]
    actions: dict[int, list[CaseAction]]


def _read(session: Session, scope: Scope, period: Period) -> _Facts:
    alarms = [
        (path, at)
        for path, at in session.execute(
            select(EventRow.region_path, EventRow.at).where(
                in_scope(EventRow.region_path, scope),
                EventRow.priority == "alarm",
                EventRow.at >= period.since,
                EventRow.at < period.until,
            )
        )
    ]
    cases = list(
        session.scalars(
            select(Case).where(
                in_scope(Case.region_path, scope),
                Case.opened_at >= period.since,
                Case.opened_at < period.until,
            )
        )
    )
    ids = [c.id for c in cases if c.category == "alarm"]
    actions: dict[int, list[CaseAction]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for a in session.scalars(
            select(CaseAction).where(CaseAction.case_id.in_(ids[start : start + 500])).order_by(CaseAction.id)
        ):
            actions[a.case_id].append(a)
    return _Facts(alarms, cases, actions)


def seconds_to_accept(case: Case, accepted_at: datetime) -> float:
    """From the case's opening to its first acceptance. Never negative: staff may accept at the
    station before the alarm reached the server (link down); the audit keeps the station's time,
    and that case was accepted at once."""
    return max(0.0, (accepted_at - case.opened_at).total_seconds())


def _kpis(alarm_count: int, cases: list[Case], actions: dict[int, list[CaseAction]]) -> dict[str, Any]:
    alarm_cases = [c for c in cases if c.category == "alarm"]
    closed = [c for c in alarm_cases if not c.is_open]
    accept_s: list[float] = []
    for c in alarm_cases:
        first = next((a for a in actions[c.id] if a.action == "accept"), None)
        if first is not None:
            accept_s.append(seconds_to_accept(c, first.at))
    close_s = [(c.closed_at - c.opened_at).total_seconds() for c in closed if c.closed_at is not None]
    kinds = {c.id: {a.action for a in actions[c.id]} for c in alarm_cases}
    false_alarms = sum(1 for c in closed if c.resolution == "false_alarm")
    on_time = sum(1 for c in closed if "escalate" not in kinds[c.id])
    scores = [c.satisfaction for c in alarm_cases if c.satisfaction is not None]
    return {
        "alarms": alarm_count,
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
    }


def _series(facts: _Facts, period: Period) -> dict[str, Any]:
    starts = period.boundaries()
    alarms, cases, maintenance = [0] * len(starts), [0] * len(starts), [0] * len(starts)
    for _, at in facts.alarms:
        alarms[bisect.bisect_right(starts, at) - 1] += 1
    for c in facts.cases:
        counter = cases if c.category == "alarm" else maintenance
        counter[bisect.bisect_right(starts, c.opened_at) - 1] += 1
    return {
        "bucket": period.bucket,
        "points": [
            {"start": s, "alarms": a, "cases": n, "maintenance_cases": m}
            for s, a, n, m in zip(starts, alarms, cases, maintenance, strict=True)
        ],
    }


# -- device health ----------------------------------------------------------------------------


@functools.cache
def supervised_models() -> frozenset[str]:
    """Catalog models whose devices the gateway supervises (heartbeat timeout). The catalog is
    part of the installation (``server.registry`` checks models against it): one that does not
    load is a ``ConfigError``, not a count quietly left out."""
    try:
        return frozenset(name for name, model in load_catalog().items() if model.supervised)
    except CatalogError as exc:
        raise ConfigError("the device catalog cannot be loaded: %s" % exc) from None


@dataclass(frozen=True)
class _Health:
    devices: list[tuple[str | None, str | None]]  # effective region path, model
    open_faults: list[tuple[str | None, str, str]]  # case region path, device, alarm class
    open_maintenance: list[str | None]  # region path of each open maintenance case
    gateways_offline: list[str | None]  # region path of each offline gateway


def _read_health(session: Session, scope: Scope) -> _Health:
    override, grid, station_region = aliased(Region), aliased(Region), aliased(Region)
    effective = func.coalesce(override.path, grid.path, station_region.path)
    devices: list[tuple[str | None, str | None]] = [
        (path, model)
        for path, model in session.execute(
            select(effective, Device.model)
            .outerjoin(override, Device.region_id == override.id)
            .outerjoin(grid, Device.grid_id == grid.id)
            .outerjoin(Gateway, Device.gateway_id == Gateway.id)
            .outerjoin(Station, Gateway.station_id == Station.id)
            .outerjoin(station_region, Station.region_id == station_region.id)
            .where(in_scope(effective, scope))
        )
    ]
    open_cases = list(
        session.execute(
            select(Case.region_path, Case.device_id, Case.alarm_class, Case.category).where(
                in_scope(Case.region_path, scope), Case.is_open.is_(True), Case.category == "maintenance"
            )
        )
    )
    offline: list[str | None] = [
        path
        for (path,) in session.execute(
            select(Region.path)
            .select_from(Gateway)
            .outerjoin(Station, Gateway.station_id == Station.id)
            .outerjoin(Region, Station.region_id == Region.id)
            .where(in_scope(Region.path, scope), Gateway.status == "offline")
        )
    ]
    return _Health(
        devices=devices,
        open_faults=[(p, d, k) for p, d, k, _ in open_cases if k in HEALTH_CLASSES],
        open_maintenance=[p for p, _, _, _ in open_cases],
        gateways_offline=offline,
    )


def _health(h: _Health, prefix: str | None) -> dict[str, int]:
    supervised = supervised_models()
    devices = [model for path, model in h.devices if under(path, prefix)]
    faulty: dict[str, set[str]] = {name: set() for name in HEALTH_CLASSES.values()}
    for path, device, alarm_class in h.open_faults:
        if under(path, prefix):
            faulty[HEALTH_CLASSES[alarm_class]].add(device)
    return {
        "devices": len(devices),
        "missing": len(faulty["missing"]),
        "low_battery": len(faulty["low_battery"]),
        "tamper": len(faulty["tamper"]),
        # Devices nobody would notice going silent: no heartbeat supervision in their model.
        "unsupervised": sum(1 for model in devices if model is None or model not in supervised),
        "open_maintenance_cases": sum(1 for p in h.open_maintenance if under(p, prefix)),
        "gateways_offline": sum(1 for p in h.gateways_offline if under(p, prefix)),
    }


# -- the whole answer -------------------------------------------------------------------------


def child_regions(session: Session, region_path: str | None) -> list[Region]:
    """Direct children of a region, or the top-level regions for the whole tree."""
    if region_path is None:
        cond = [Region.path.not_like("%/%")]
    else:
        prefix = escape_like(region_path)
        cond = [
            Region.path.like(prefix + "/%", escape="\\"),
            Region.path.not_like(prefix + "/%/%", escape="\\"),
        ]
    return list(session.scalars(select(Region).where(*cond).order_by(Region.path)))


def _region_row(region: Region, facts: _Facts, health: _Health) -> dict[str, Any]:
    cases = [c for c in facts.cases if under(c.region_path, region.path)]
    alarms = sum(1 for path, _ in facts.alarms if under(path, region.path))
    return {
        "region": region.path,
        "name": region.name,
        "level": region.level,
        **_kpis(alarms, cases, facts.actions),
        "device_health": _health(health, region.path),
    }


def compute(
    session: Session, scope: Scope, since: datetime, until: datetime, tz: tzinfo = UTC
) -> dict[str, Any]:
    """Cases opened in [since, until) within the scope; events of that period likewise.

    Device health is a picture of now, not of the period: devices and open cases as they are.
    """
    period = Period(since, until, tz)
    facts = _read(session, scope, period)
    health = _read_health(session, scope)
    own = session.scalars(select(Region).where(Region.path == scope.region_path)).one_or_none()
    return {
        "since": since,
        "until": until,
        "region": scope.region_path,
        "name": own.name if own is not None else None,
        "level": own.level if own is not None else None,
        **_kpis(len(facts.alarms), facts.cases, facts.actions),
        "device_health": _health(health, scope.region_path),
        "series": _series(facts, period),
        "children": [_region_row(r, facts, health) for r in child_regions(session, scope.region_path)],
    }


def kpi_rows(stats: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The subtree's own row first, then one per child region (what ``kpis.csv`` holds)."""
    yield stats
    yield from stats["children"]


def narrowed(scope: Scope, region: str | None) -> Scope:
    """The caller's scope cut down to ``region``, which must lie inside it (else not found)."""
    if region is None:
        return scope
    if not scope.covers(region):
        raise NotFound("region %s not found" % region)
    return Scope(scope.user_id, scope.username, scope.role, region)


def time_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown time zone %r" % name, reason="bad_time_zone") from None
