"""CSV exports: the cases and the KPIs a duty room hands on, with the same scope as the JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from server.api.bounds import DeviceId, Kind, RegionPath, State, TimeZone, UtcTime
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.csv_export import CASE_COLUMNS, KPI_COLUMNS, CaseFilter, case_rows, csv_chunks, kpi_row
from server.stats import compute, kpi_rows, narrowed, time_zone
from server.workflow import STATES

router = APIRouter(tags=["exports"], responses=ERRORS)

CSV = "text/csv; charset=utf-8"
Lang = Annotated[Literal["zh-CN", "en"], Query(description="language of the headers and labels")]
Zone = Annotated[TimeZone, Query(description="IANA time zone for the times in the file")]
CSV_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {}}, "description": "UTF-8 with a byte order mark"},
    **ERRORS,
}


def _content_disposition(name: str) -> str:
    # Region paths may hold any Unicode, and HTTP headers carry Latin-1 only: an ASCII fallback for
    # old clients, the exact name in RFC 6266's filename* for the rest.
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return "attachment; filename=\"%s\"; filename*=UTF-8''%s" % (fallback, quote(name, safe=""))


def _download(name: str, chunks: Iterator[str]) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=CSV,
        headers={"Content-Disposition": _content_disposition(name), "Cache-Control": "no-store"},
    )


def _file_name(kind: str, region: str | None) -> str:
    return "shouwang-%s-%s.csv" % (kind, (region or "all").replace("/", "-"))


@router.get(
    "/exports/cases.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSES,
    summary="Cases as CSV: the filters of GET /cases, plus a period (opened in) and a subtree",
)
def cases_csv(
    svc: ServicesDep,
    scope: ScopeDep,
    state: Annotated[State | None, Query(description="one of " + ", ".join(STATES) + ", or 'open'")] = None,
    device: DeviceId | None = None,
    alarm_class: Kind | None = None,
    region: RegionPath | None = None,
    since: UtcTime | None = None,
    until: UtcTime | None = None,
    tz: Zone = "UTC",
    lang: Lang = "zh-CN",
) -> StreamingResponse:
    zone = time_zone(tz)
    where = narrowed(scope, region)
    filters = CaseFilter(state, device, alarm_class, since, until)
    rows = case_rows(svc.db, where, filters, lang)
    return _download(_file_name("cases", where.region_path), csv_chunks(CASE_COLUMNS, rows, lang, zone))


@router.get(
    "/exports/kpis.csv",
    response_class=StreamingResponse,
    responses=CSV_RESPONSES,
    summary="The KPIs of GET /stats as CSV: the subtree's row, then one per child region",
)
def kpis_csv(
    svc: ServicesDep,
    scope: ScopeDep,
    since: UtcTime,
    until: UtcTime,
    region: RegionPath | None = None,
    tz: Zone = "UTC",
    lang: Lang = "zh-CN",
) -> StreamingResponse:
    zone = time_zone(tz)
    where = narrowed(scope, region)
    with svc.db.read() as session:
        stats = compute(session, where, since, until, zone)
    rows = [kpi_row(r) for r in kpi_rows(stats)]
    return _download(_file_name("kpis", where.region_path), csv_chunks(KPI_COLUMNS, rows, lang, zone))
