"""CSV exports: bytes as a spreadsheet program gets them, rows and scope as the JSON routes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from server import csv_export
from server.data.devices import upsert_device
from server.ingest.store import store_events
from server.scope import SYSTEM
from server.workflow import apply_action
from tests.server.srv_support import T0, Running, ev

BOM = b"\xef\xbb\xbf"
ZH_CASE_HEADER = [
    "案件编号",
    "立案时间",
    "类型代码",
    "警情",
    "警情类别",
    "优先级",
    "类别",
    "状态代码",
    "状态",
    "设备编号",
    "设备名称",
    "服务站",
    "区域路径",
    "区域",
    "当前时限",
    "时限状态",
    "升级级数",
    "当前处置人",
    "受理时间",
    "受理用时（秒）",
    "结案时间",
    "结果代码",
    "结果",
    "满意度",
    "事件数",
]


def _rows(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM), body[:10]
    return list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))


@pytest.fixture
def history(server: Running) -> dict[str, int]:
    """A panic in 河镇 accepted after 30 s and closed, a battery fault there, a fire in 山镇."""
    db = server.services.db
    with db.write() as s:
        panic = store_events(s, [ev(1, "panic", device="sn-00a3")], T0).cases_opened[0]
        battery = store_events(s, [ev(2, "low_battery", device="sn-00a4")], T0).cases_opened[0]
        fire = store_events(s, [ev(1, "fire", device="sn-0b01", gateway="gw-xicun-01")], T0).cases_opened[0]
    with db.write() as s:
        apply_action(s, panic, SYSTEM, "accept", T0 + timedelta(seconds=30))
        apply_action(s, panic, SYSTEM, "close", T0 + timedelta(seconds=600))
        apply_action(s, panic, SYSTEM, "evaluate", T0 + timedelta(seconds=700), data={"satisfaction": 5})
    return {"panic": panic, "battery": battery, "fire": fire}


def test_cases_csv_holds_the_officers_cases_only(server: Running, history: dict[str, int]) -> None:
    resp = server.client.get("/api/v1/exports/cases.csv", headers=server.token("duty-t03"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"shouwang-cases-c01-t03.csv\"; filename*=UTF-8''shouwang-cases-c01-t03.csv"
    )
    assert resp.content.count(b"\r\n") == 3
    assert _rows(resp.content) == [
        ZH_CASE_HEADER,
        [
            str(history["panic"]),
            "2026-11-23 08:00:00",
            "panic",
            "紧急呼叫",
            "panic",
            "alarm",
            "alarm",
            "closed",
            "已结案",
            "sn-00a3",
            "王奶奶家 呼叫按钮",
            "东村服务站",
            "c01/t03/v12/g4",
            "第四网格",
            "",
            "",
            "0",
            "",
            "2026-11-23 08:00:30",
            "30",
            "2026-11-23 08:10:00",
            "resolved",
            "已处置",
            "5",
            "1",
        ],
        [
            str(history["battery"]),
            "2026-11-23 08:00:00",
            "low_battery",
            "电量低",
            "battery",
            "fault",
            "maintenance",
            "new",
            "待受理",
            "sn-00a4",
            "小卖部 门磁",
            "东村服务站",
            "c01/t03/v12/g4",
            "第四网格",
            "2026-11-23 12:00:00",
            "green",
            "0",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "1",
        ],
    ]
    # The other township's officer gets the fire and nothing of 河镇.
    other = _rows(server.client.get("/api/v1/exports/cases.csv", headers=server.token("duty-t05")).content)
    assert [r[0] for r in other[1:]] == [str(history["fire"])]
    assert "王奶奶家" not in "".join(",".join(r) for r in other)


def test_cases_csv_in_english_and_local_time_with_filters(server: Running, history: dict[str, int]) -> None:
    q = "/api/v1/exports/cases.csv?lang=en&tz=Asia/Shanghai&state=open&region=c01/t03/v12"
    rows = _rows(server.client.get(q, headers=server.token("duty-c01")).content)
    assert rows[0][:4] == ["Case", "Opened", "Kind code", "Kind"]
    assert [(r[0], r[1], r[3], r[8], r[14]) for r in rows[1:]] == [
        (str(history["battery"]), "2026-11-23 16:00:00", "Low battery", "New", "2026-11-23 20:00:00")
    ]
    for query, ids in [
        ("alarm_class=panic", [history["panic"]]),
        ("device=sn-0b01", [history["fire"]]),
        ("state=closed", [history["panic"]]),
        ("since=2026-11-23T08:00:01", []),
        ("until=2026-11-23T08:00:01", [history["panic"], history["battery"], history["fire"]]),
    ]:
        got = _rows(server.client.get("/api/v1/exports/cases.csv?" + query, headers=server.token()).content)
        assert [int(r[0]) for r in got[1:]] == ids, query


def test_cases_csv_refusals(server: Running, history: dict[str, int]) -> None:
    c = server.client
    assert c.get("/api/v1/exports/cases.csv").status_code == 401
    outside = c.get("/api/v1/exports/cases.csv?region=c01/t05", headers=server.token("duty-t03"))
    assert (outside.status_code, outside.json()["reason"]) == (404, "not_found")
    zone = c.get("/api/v1/exports/cases.csv?tz=Nowhere/Land", headers=server.token("duty-t03"))
    assert (zone.status_code, zone.json()["reason"]) == (422, "bad_time_zone")
    lang = c.get("/api/v1/exports/cases.csv?lang=fr", headers=server.token("duty-t03"))
    assert lang.status_code == 422


def test_cells_that_a_spreadsheet_would_run_stay_text(server: Running) -> None:
    with server.services.db.write() as s:
        upsert_device(s, "sn-0c01", {"gateway": "gw-dongcun-01", "name": '=HYPERLINK("http://x","点我")'})
        store_events(s, [ev(9, "panic", device="sn-0c01")], T0)
    rows = _rows(server.client.get("/api/v1/exports/cases.csv", headers=server.token("duty-t03")).content)
    assert rows[1][10] == '\'=HYPERLINK("http://x","点我")'


def test_cases_csv_pages_through_every_case(server: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_export, "PAGE", 2)
    with server.services.db.write() as s:
        events = [ev(i, "panic", device="sn-1%03x" % i) for i in range(1, 6)]
        opened = store_events(s, events, T0).cases_opened
    rows = _rows(server.client.get("/api/v1/exports/cases.csv", headers=server.token("duty-t03")).content)
    assert [int(r[0]) for r in rows[1:]] == sorted(opened)


def test_kpis_csv_has_the_subtree_then_each_child(server: Running, history: dict[str, int]) -> None:
    q = "/api/v1/exports/kpis.csv?since=2026-11-23T00:00:00&until=2026-11-24T00:00:00"
    resp = server.client.get(q, headers=server.token("duty-c01"))
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"shouwang-kpis-c01.csv\"; filename*=UTF-8''shouwang-kpis-c01.csv"
    )
    rows = _rows(resp.content)
    assert rows[0][:6] == ["区域路径", "区域", "级别", "警情事件数", "警情案件数", "维护案件数"]
    # region, name, level, alarm events, cases, maintenance; accept median, p90, within 60 s; close
    # median, p90; closure, on time, rework, extension, false alarm, satisfaction; device health
    assert [",".join(r) for r in rows[1:]] == [
        "c01,东县,county,2,2,1,30,30,0.5,600,600,0.5,1,0,0,0,5,3,0,1,0,0,1,0",
        "c01/t03,河镇,township,1,1,1,30,30,1,600,600,1,1,0,0,0,5,2,0,1,0,0,1,0",
        "c01/t05,山镇,township,1,1,0,,,0,,,0,,0,0,,,1,0,0,0,0,0,0",
    ]
    en = _rows(server.client.get(q + "&lang=en&region=c01/t05", headers=server.token("duty-t05")).content)
    assert en[0][:3] == ["Region path", "Region", "Level"]
    assert [r[0] for r in en[1:]] == ["c01/t05", "c01/t05/v01"]
    refused = server.client.get(q + "&region=c01/t03", headers=server.token("duty-t05"))
    assert refused.status_code == 404


def test_a_region_path_outside_latin_1_still_names_the_file(server: Running) -> None:
    # HTTP headers carry Latin-1 only: the name goes in RFC 6266's filename*, with an ASCII fallback.
    region = {"region": 'c01/河镇"'}
    resp = server.client.get("/api/v1/exports/cases.csv", params=region, headers=server.token())
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"shouwang-cases-c01-___.csv\"; "
        "filename*=UTF-8''shouwang-cases-c01-%E6%B2%B3%E9%95%87%22.csv"
    )
    assert _rows(resp.content) == [ZH_CASE_HEADER]
