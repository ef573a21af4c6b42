"""CAP 1.2 documents of cases, validated against the OASIS schema kept in tests/server/cap."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from server.data.devices import upsert_device
from server.ingest.store import store_events
from server.scope import SYSTEM
from server.workflow import apply_action
from tests.server.srv_support import T0, Running, ev

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "cap" / "CAP-v1.2.xsd")))
NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
G4_RING = "34.0,108.0 34.0,109.0 35.0,109.0 35.0,108.0 34.0,108.0"


def _valid(body: bytes) -> etree._Element:
    doc = etree.fromstring(body)
    SCHEMA.assertValid(doc)
    return doc


def _flat(node: etree._Element, path: str = "") -> list[tuple[str, str]]:
    """Every leaf as (path, text), in document order; the whole document in comparable form."""
    out: list[tuple[str, str]] = []
    for child in node:
        tag = str(child.tag).removeprefix(NS)
        where = path + "/" + tag if path else tag
        if len(child):
            out.extend(_flat(child, where))
        else:
            out.append((where, child.text or ""))
    return out


def _cap(server: Running, case_id: int, user: str = "duty-t03") -> bytes:
    resp = server.client.get("/api/v1/cases/%d/cap" % case_id, headers=server.token(user))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/cap+xml"
    return resp.content


@pytest.fixture
def panic(server: Running) -> int:
    with server.services.db.write() as s:
        upsert_device(s, "sn-00a3", {"lat": 34.12, "lon": 108.91, "address": "东村 3 组 12 号"})
        return store_events(s, [ev(1, "panic", device="sn-00a3")], T0).cases_opened[0]


def test_a_new_case_is_an_alert_with_the_grid_and_the_device(server: Running, panic: int) -> None:
    body = _cap(server, panic)
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<alert xmlns=")
    ident = "shouwang-c01:case:%d" % panic
    common_info = [
        ("eventCode/valueName", "shouwang:kind"),
        ("eventCode/value", "panic"),
        ("effective", "2026-11-23T08:00:00-00:00"),
    ]
    params = [
        ("parameter/valueName", "shouwang:caseId"),
        ("parameter/value", str(panic)),
        ("parameter/valueName", "shouwang:state"),
        ("parameter/value", "new"),
        ("parameter/valueName", "shouwang:deadlineStatus"),
        ("parameter/value", "green"),
        ("parameter/valueName", "shouwang:escalationLevel"),
        ("parameter/value", "0"),
        ("parameter/valueName", "shouwang:eventCount"),
        ("parameter/value", "1"),
    ]
    area = [
        ("area/areaDesc", "东县 › 河镇 › 东村 › 第四网格"),
        ("area/polygon", G4_RING),
        ("area/circle", "34.12,108.91 0.05"),
        ("area/geocode/valueName", "shouwang:region"),
        ("area/geocode/value", "c01/t03/v12/g4"),
    ]

    def info(lang: str, event: str, rest: list[tuple[str, str]]) -> list[tuple[str, str]]:
        head = [("language", lang), ("category", "Safety"), ("event", event), ("urgency", "Immediate")]
        head += [("severity", "Severe"), ("certainty", "Observed"), *common_info]
        return [("info/" + k, v) for k, v in head + rest + params + area]

    assert _flat(_valid(body)) == [
        ("identifier", ident + ":1"),
        ("sender", "shouwang-c01"),
        ("sent", "2026-11-23T08:00:00-00:00"),
        ("status", "Actual"),
        ("msgType", "Alert"),
        ("scope", "Restricted"),
        ("restriction", "duty rooms of region c01/t03/v12/g4"),
        ("incidents", ident),
        *info(
            "zh-CN",
            "紧急呼叫",
            [
                ("senderName", "守望 值班台"),
                ("headline", "紧急呼叫 · 王奶奶家 呼叫按钮 · 东村服务站"),
                (
                    "description",
                    "状态: 待受理; 设备: 王奶奶家 呼叫按钮 (sn-00a3); 服务站: 东村服务站; "
                    "地址: 东村 3 组 12 号; 时限: 2026-11-23T08:01:00-00:00",
                ),
            ],
        ),
        *info(
            "en-US",
            "Panic button",
            [
                ("senderName", "Shouwang duty room"),
                ("headline", "Panic button · 王奶奶家 呼叫按钮 · 东村服务站"),
                (
                    "description",
                    "State: New; Device: 王奶奶家 呼叫按钮 (sn-00a3); Station: 东村服务站; "
                    "Address: 东村 3 组 12 号; Deadline: 2026-11-23T08:01:00-00:00",
                ),
            ],
        ),
    ]


def test_the_message_follows_the_case_update_then_all_clear(server: Running, panic: int) -> None:
    with server.services.db.write() as s:
        apply_action(s, panic, SYSTEM, "accept", T0 + timedelta(seconds=20))
    doc = dict(_flat(_valid(_cap(server, panic))))
    ident = "shouwang-c01:case:%d" % panic
    assert {k: doc[k] for k in ("identifier", "sent", "msgType", "references")} == {
        "identifier": ident + ":2",
        "sent": "2026-11-23T08:00:20-00:00",
        "msgType": "Update",
        "references": "shouwang-c01,%s:1,2026-11-23T08:00:00-00:00" % ident,
    }
    with server.services.db.write() as s:
        apply_action(s, panic, SYSTEM, "close", T0 + timedelta(seconds=300))
    closed = _valid(_cap(server, panic))
    flat = _flat(closed)
    assert ("identifier", ident + ":3") in flat
    assert ("msgType", "Update") in flat
    infos = closed.findall(NS + "info")
    assert [
        (i.findtext(NS + "responseType"), i.findtext(NS + "urgency"), i.findtext(NS + "certainty"))
        for i in infos
    ] == [("AllClear", "Past", "Observed")] * 2
    # A closed case has no deadline left to state.
    assert "时限" not in (infos[0].findtext(NS + "description") or "")


def test_a_false_alarm_cancels_the_alert(server: Running) -> None:
    with server.services.db.write() as s:
        fire = store_events(s, [ev(2, "fire", device="sn-00a4")], T0).cases_opened[0]
    with server.services.db.write() as s:
        apply_action(s, fire, SYSTEM, "false_alarm", T0 + timedelta(seconds=40), note="烧秸秆")
    doc = _valid(_cap(server, fire))
    flat = dict(_flat(doc))
    assert (flat["msgType"], flat["note"], flat["sent"]) == (
        "Cancel",
        "false alarm",
        "2026-11-23T08:00:40-00:00",
    )
    info = doc.find(NS + "info")
    assert info is not None
    assert (
        info.findtext(NS + "category"),
        info.findtext(NS + "severity"),
        info.findtext(NS + "certainty"),
    ) == (
        "Fire",
        "Extreme",
        "Unlikely",
    )
    # The station's point stands in for a device without coordinates of its own.
    assert info.findtext(NS + "area/" + NS + "circle") == "34.1,108.9 0.05"


def test_a_transferred_case_names_its_new_region(server: Running, panic: int) -> None:
    with server.services.db.write() as s:
        apply_action(
            s, panic, SYSTEM, "transfer", T0 + timedelta(seconds=10), data={"region": "c01/t05/v01/g1"}
        )
    doc = _valid(_cap(server, panic, "duty-t05"))
    area = [(k, v) for k, v in _flat(doc) if k.startswith("info/area")][:4]
    # 第一网格 has no polygon: the area is named, and the device point given, without one.
    assert area == [
        ("info/area/areaDesc", "东县 › 山镇 › 西村 › 第一网格"),
        ("info/area/circle", "34.12,108.91 0.05"),
        ("info/area/geocode/valueName", "shouwang:region"),
        ("info/area/geocode/value", "c01/t05/v01/g1"),
    ]
    assert (
        server.client.get("/api/v1/cases/%d/cap" % panic, headers=server.token("duty-t03")).status_code == 404
    )


def test_an_unplaced_test_alarm_still_validates(server: Running) -> None:
    with server.services.db.write() as s:
        case = store_events(s, [ev(3, "panic", device="sn-ffff", gateway="gw-nowhere")], T0).cases_opened[0]
    doc = _valid(_admin_cap(server, case))
    flat = dict(_flat(doc))
    assert (flat["sender"], flat["restriction"]) == ("shouwang", "duty rooms of region (unassigned)")
    assert doc.find(NS + "info/" + NS + "area") is None


def _admin_cap(server: Running, case_id: int) -> bytes:
    resp = server.client.get(
        "/api/v1/cases/%d/cap" % case_id, headers=server.token("admin", "Admin-Password-2026")
    )
    assert resp.status_code == 200
    return resp.content


def test_cap_refusals(server: Running, panic: int) -> None:
    c = server.client
    assert c.get("/api/v1/cases/%d/cap" % panic).status_code == 401
    hidden = c.get("/api/v1/cases/%d/cap" % panic, headers=server.token("duty-t05"))
    assert (hidden.status_code, hidden.json()["reason"]) == (404, "not_found")
    assert c.get("/api/v1/cases/999999/cap", headers=server.token("duty-c01")).status_code == 404


def test_the_schema_rejects_what_cap_forbids(server: Running, panic: int) -> None:
    """The schema kept here really checks: a UTC 'Z' time and an unknown msgType are refused."""
    body = _cap(server, panic)
    for good, bad in [(b"08:00:00-00:00</sent>", b"08:00:00Z</sent>"), (b">Alert<", b">Alarm<")]:
        assert good in body
        with pytest.raises(etree.DocumentInvalid):
            SCHEMA.assertValid(etree.fromstring(body.replace(good, bad)))
