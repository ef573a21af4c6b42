"""CSV exports of cases and KPIs: UTF-8 with a BOM, so spreadsheet programs read Chinese right.

Rows are read in pages by case id, each page in its own short read transaction, so a large
export neither holds the database nor the whole result in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, func, select

from server.db.engine import Database
from server.db.models import Case, CaseAction, Device, Gateway, Region, Station
from server.labels import label
from server.scope import Scope, in_scope
from server.stats import seconds_to_accept

BOM = "\ufeff"
PAGE = 500
# A cell starting with one of these is a formula to a spreadsheet program: an exported device
# name like "=HYPERLINK(...)" must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CASE_COLUMNS: list[tuple[str, str, str]] = [
    # key, zh-CN header, en header
    ("id", "案件编号", "Case"),
    ("opened_at", "立案时间", "Opened"),
    ("kind", "类型代码", "Kind code"),
    ("kind_label", "警情", "Kind"),
    ("alarm_class", "警情类别", "Alarm class"),
    ("priority", "优先级", "Priority"),
    ("category", "类别", "Category"),
    ("state", "状态代码", "State code"),
    ("state_label", "状态", "State"),
    ("device", "设备编号", "Device id"),
    ("device_name", "设备名称", "Device"),
    ("station", "服务站", "Station"),
    ("region", "区域路径", "Region path"),
    ("region_name", "区域", "Region"),
    ("deadline", "当前时限", "Deadline"),
    ("deadline_status", "时限状态", "Deadline status"),
    ("escalation_level", "升级级数", "Escalation level"),
    ("assignee", "当前处置人", "Assignee"),
    ("accepted_at", "受理时间", "Accepted"),
    ("accept_s", "受理用时（秒）", "Time to accept (s)"),
    ("closed_at", "结案时间", "Closed"),
    ("resolution", "结果代码", "Outcome code"),
    ("resolution_label", "结果", "Outcome"),
    ("satisfaction", "满意度", "Satisfaction"),
    ("event_count", "事件数", "Events"),
]

KPI_COLUMNS: list[tuple[str, str, str]] = [
    ("region", "区域路径", "Region path"),
    ("name", "区域", "Region"),
    ("level", "级别", "Level"),
    ("alarms", "警情事件数", "Alarm events"),
    ("cases", "警情案件数", "Alarm cases"),
    ("maintenance_cases", "维护案件数", "Maintenance cases"),
    ("accept_median_s", "受理用时中位数（秒）", "Time to accept, median (s)"),
    ("accept_p90_s", "受理用时 P90（秒）", "Time to accept, p90 (s)"),
    ("accept_within_60s", "60 秒内受理率", "Accepted within 60 s"),
    ("close_median_s", "结案用时中位数（秒）", "Time to close, median (s)"),
    ("close_p90_s", "结案用时 P90（秒）", "Time to close, p90 (s)"),
    ("closure_rate", "结案率", "Closure rate"),
    ("on_time_rate", "按期结案率", "On-time rate"),
    ("rework_rate", "返工率", "Rework rate"),
    ("extension_rate", "延期率", "Extension rate"),
    ("false_alarm_rate", "误报率", "False-alarm rate"),
    ("satisfaction", "满意度", "Satisfaction"),
    ("devices", "设备数", "Devices"),
    ("missing", "失联设备", "Devices missing"),
    ("low_battery", "电量低设备", "Devices with low battery"),
    ("tamper", "防拆报警设备", "Devices tampered"),
    ("unsupervised", "无心跳监测设备", "Unsupervised devices"),
    ("open_maintenance_cases", "未结维护案件", "Open maintenance cases"),
    ("gateways_offline", "离线网关", "Gateways offline"),
]


def headers(columns: Sequence[tuple[str, str, str]], lang: str) -> list[str]:
    return [en if lang == "en" else zh for _, zh, en in columns]


def cell(value: Any, tz: tzinfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return ("%.4f" % value).rstrip("0").rstrip(".")
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    return str(value)


def csv_chunks(
    columns: Sequence[tuple[str, str, str]], rows: Iterable[dict[str, Any]], lang: str, tz: tzinfo
) -> Iterator[str]:
    """The BOM and header first, then one chunk per row (CRLF line ends, as RFC 4180 says)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers(columns, lang))
    yield BOM + buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([cell(row.get(key), tz) for key, _, _ in columns])
        yield buf.getvalue()


@dataclass(frozen=True)
class CaseFilter:
    """The filters of ``GET /cases``, and a period and subtree as exports need."""

    state: str | None = None
    device: str | None = None
    alarm_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self, scope: Scope) -> list[ColumnElement[bool]]:
        cond = [in_scope(Case.region_path, scope)]
        if self.state == "open":
            cond.append(Case.is_open.is_(True))
        elif self.state is not None:
            cond.append(Case.state == self.state)
        if self.device is not None:
            cond.append(Case.device_id == self.device)
        if self.alarm_class is not None:
            cond.append(Case.alarm_class == self.alarm_class)
        if self.since is not None:
            cond.append(Case.opened_at >= self.since)
        if self.until is not None:
            cond.append(Case.opened_at < self.until)
        return cond


def case_rows(db: Database, scope: Scope, filters: CaseFilter, lang: str) -> Iterator[dict[str, Any]]:
    """Matching cases, oldest first, with names and the time of the first accept."""
    cond = filters.conditions(scope)
    accepted = (
        select(CaseAction.case_id, func.min(CaseAction.at).label("at"))
        .where(CaseAction.action == "accept")
        .group_by(CaseAction.case_id)
        .subquery()
    )
    after = 0
    while True:
        with db.read() as session:
            page = session.execute(
                select(Case, Device.name, Station.name, Region.name, accepted.c.at)
                .outerjoin(Device, Device.id == Case.device_id)
                .outerjoin(Gateway, Gateway.id == func.coalesce(Device.gateway_id, Case.gateway_id))
                .outerjoin(Station, Station.id == Gateway.station_id)
                .outerjoin(Region, Region.id == Case.region_id)
                .outerjoin(accepted, accepted.c.case_id == Case.id)
                .where(*cond, Case.id > after)
                .order_by(Case.id)
                .limit(PAGE)
            ).all()
            rows = [_case_row(c, dev, st, reg, at, lang) for c, dev, st, reg, at in page]
        yield from rows
        if len(page) < PAGE:
            return
        after = rows[-1]["id"]


def _case_row(
    c: Case,
    device: str | None,
    station: str | None,
    region: str | None,
    accepted_at: datetime | None,
    lang: str,
) -> dict[str, Any]:
    return {
        "id": c.id,
        "opened_at": c.opened_at,
        "kind": c.kind,
        "kind_label": label(lang, "kind", c.kind),
        "alarm_class": c.alarm_class,
        "priority": c.priority,
        "category": c.category,
        "state": c.state,
        "state_label": label(lang, "state", c.state),
        "device": c.device_id,
        "device_name": device,
        "station": station,
        "region": c.region_path,
        "region_name": region,
        "deadline": c.deadline if c.is_open else None,
        "deadline_status": c.deadline_status if c.is_open else None,
        "escalation_level": c.escalation_level,
        "assignee": c.assignee,
        "accepted_at": accepted_at,
        "accept_s": seconds_to_accept(c, accepted_at) if accepted_at is not None else None,
        "closed_at": c.closed_at,
        "resolution": c.resolution,
        "resolution_label": label(lang, "resolution", c.resolution),
        "satisfaction": c.satisfaction,
        "event_count": c.event_count,
    }


def kpi_row(row: dict[str, Any]) -> dict[str, Any]:
    """One region's KPIs (as ``server.stats`` gives them) flattened into CSV columns."""
    accept, close, health = row["time_to_accept_s"], row["time_to_close_s"], row["device_health"]
    return {
        **{key: row.get(key) for key, _, _ in KPI_COLUMNS if key in row},
        "accept_median_s": accept["median"],
        "accept_p90_s": accept["p90"],
        "accept_within_60s": accept["within_60s"],
        "close_median_s": close["median"],
        "close_p90_s": close["p90"],
        **{key: health[key] for key in health},
    }

