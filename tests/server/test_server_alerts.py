"""Duty alerts over MQTT: topic by region path, whole payload."""

from __future__ import annotations

from tests.server.srv_support import FakeGateway, Running, Watcher, ev


def test_panic_alert_topic_and_payload(server: Running, watcher: Watcher) -> None:
    gw = FakeGateway(server.broker.url)
    try:
        gw.send([ev(12, "panic", device_seq=17, battery=87, rssi=-61)])
        watcher.next("sw/v1/gw/")
        topic, alert = watcher.next("sw/v1/duty/")
        gw.send([ev(13, "panic", device_seq=18)])
        topic2, alert2 = watcher.next("sw/v1/duty/")
    finally:
        gw.close()
    case_id = alert["case"]["id"]
    assert topic == "sw/v1/duty/c01/t03/v12/g4/alerts"
    assert alert == {
        "v": 1,
        "type": "case_opened",
        "case": {
            "id": case_id,
            "state": "new",
            "alarm_class": "panic",
            "kind": "panic",
            "priority": "alarm",
            "opened_at": "2026-11-23T08:00:00.301Z",
            "deadline": "2026-11-23T08:01:00.301Z",
            "event_count": 1,
            "deadline_status": "green",
            "escalation_level": 0,
        },
        "event": {
            "v": 1,
            "id": "gw-dongcun-01:12",
            "gateway": "gw-dongcun-01",
            "device": "sn-00a3",
            "kind": "panic",
            "priority": "alarm",
            "at": "2026-11-23T08:00:00.301Z",
            "device_seq": 17,
            "data": {"battery": 87, "rssi": -61},
        },
        "device": {"id": "sn-00a3", "name": "王奶奶家 呼叫按钮", "model": "sw-panic-button"},
        "station": {"code": "st-dongcun", "name": "东村服务站"},
        "region": {"path": ["c01", "t03", "v12", "g4"], "names": ["东县", "河镇", "东村", "第四网格"]},
        "location": {"lat": 34.1, "lon": 108.9, "address": "东村 1 号"},
    }
    assert topic2 == topic
    assert (alert2["type"], alert2["case"]["id"], alert2["case"]["event_count"]) == (
        "event_attached",
        case_id,
        2,
    )
    assert alert2["event"]["id"] == "gw-dongcun-01:13"


def test_device_region_override_wins_over_station(server: Running, watcher: Watcher) -> None:
    from sqlalchemy import select

    from server.db.models import Device, Region

    with server.services.db.write() as s:
        other = s.scalars(select(Region).where(Region.path == "c01/t05/v01/g1")).one()
        dev = s.get(Device, "sn-00a4")
        assert dev is not None
        dev.region_id, dev.lat, dev.lon, dev.address = other.id, 34.6, 108.3, "西村 12 号"
    gw = FakeGateway(server.broker.url)
    try:
        gw.send([ev(1, "intrusion", device="sn-00a4")])
        topic, alert = watcher.next("sw/v1/duty/")
    finally:
        gw.close()
    assert topic == "sw/v1/duty/c01/t05/v01/g1/alerts"
    assert alert["region"] == {
        "path": ["c01", "t05", "v01", "g1"],
        "names": ["东县", "山镇", "西村", "第一网格"],
    }
    assert alert["location"] == {"lat": 34.6, "lon": 108.3, "address": "西村 12 号"}
    assert alert["station"] == {"code": "st-dongcun", "name": "东村服务站"}
