"""KPIs over a small, fully known history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.data.devices import upsert_device
from server.db.engine import Database
from server.deadlines import Escalator
from server.errors import Invalid
from server.ingest.store import store_events
from server.scope import SYSTEM, Scope
from server.settings import Deadlines
from server.stats import Period, compute
from server.workflow import apply_action
from tests.server.srv_support import T0, Running, ev


def _t(s: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(seconds=s)


def test_kpis(db: Database) -> None:
    with db.write() as s:
        a = store_events(s, [ev(1, "panic", device="sn-0a01")], T0).cases_opened[0]
        b = store_events(s, [ev(2, "fire", device="sn-0a02")], T0).cases_opened[0]
        c = store_events(s, [ev(3, "panic", device="sn-0a03")], T0).cases_opened[0]
        store_events(s, [ev(4, "low_battery", device="sn-0a04")], T0)
        store_events(s, [ev(1, "panic", device="sn-0b01", gateway="gw-xicun-01")], T0)
    with db.write() as s:
        apply_action(s, a, SYSTEM, "accept", _t(30))
        apply_action(s, a, SYSTEM, "close", _t(300))
        apply_action(s, a, SYSTEM, "evaluate", _t(400), data={"satisfaction": 4})
        apply_action(s, b, SYSTEM, "false_alarm", _t(20))
    Escalator(db, lambda: T0, Deadlines()).tick(_t(48))
    Escalator(db, lambda: T0, Deadlines()).tick(_t(61))  # c is now overdue
    with db.write() as s:
        apply_action(s, c, SYSTEM, "accept", _t(90))
        apply_action(s, c, SYSTEM, "extend", _t(91), data={"seconds": 60})
        apply_action(s, c, SYSTEM, "close", _t(600))
    with db.read() as s:
        got = compute(s, Scope(None, "x", "viewer", "c01/t03"), T0, _t(3600))
    kpis = {
        "alarms": 3,
        "cases": 3,
        "maintenance_cases": 1,
        "false_alarm_rate": round(1 / 3, 4),
        "time_to_accept_s": {"median": 60.0, "p90": 90.0, "within_60s": round(1 / 3, 4)},
        "time_to_close_s": {"median": 300.0, "p90": 600.0},
        "closure_rate": 1.0,
        "on_time_rate": round(2 / 3, 4),
        "rework_rate": 0.0,
        "extension_rate": round(1 / 3, 4),
        "satisfaction": 4.0,
    }
    # The two seeded devices of the township; the alarms came from devices not registered yet.
    health = {
        "devices": 2,
        "missing": 0,
        "low_battery": 1,
        "tamper": 0,
        "unsupervised": 0,
        "open_maintenance_cases": 1,
        "gateways_offline": 0,
    }
    assert got == {
        "since": T0,
        "until": _t(3600),
        "region": "c01/t03",
        "name": "河镇",
        "level": "township",
        **kpis,
        "device_health": health,
        "series": {
            "bucket": "hour",
            "points": [{"start": T0, "alarms": 3, "cases": 3, "maintenance_cases": 1}],
        },
        "children": [
            {"region": "c01/t03/v12", "name": "东村", "level": "village", **kpis, "device_health": health}
        ],
    }


def test_an_alarm_accepted_at_the_station_before_it_reached_the_server(db: Database) -> None:
    # The kiosk's action carries the station's time, two minutes before the server heard of
    # the alarm: accepted at once, never a negative time.
    with db.write() as s:
        case = store_events(s, [ev(1, "panic", device="sn-0a01")], _t(120)).cases_opened[0]
        apply_action(s, case, SYSTEM, "accept", _t(120), recorded_at=T0)
    with db.read() as s:
        got = compute(s, Scope(None, "x", "viewer", "c01/t03"), T0, _t(3600))
    assert got["time_to_accept_s"] == {"median": 0.0, "p90": 0.0, "within_60s": 1.0}


def test_series_buckets_follow_the_callers_days_and_hours(db: Database) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    day0 = datetime(2026, 11, 23, tzinfo=shanghai)  # 2026-11-22T16:00Z
    with db.write() as s:
        # 23:30 and 00:30 local time: either side of midnight in Shanghai, the same UTC day.
        store_events(s, [ev(1, "panic", device="sn-0a01", at=day0 + timedelta(hours=23, minutes=30))], T0)
        store_events(s, [ev(2, "medical", device="sn-0a02", at=day0 + timedelta(hours=24, minutes=30))], T0)
    with db.read() as s:
        got = compute(s, Scope(None, "x", "viewer", None), day0, day0 + timedelta(days=3), shanghai)
    assert got["series"] == {
        "bucket": "day",
        "points": [
            {"start": day0.astimezone(UTC), "alarms": 1, "cases": 2, "maintenance_cases": 0},
            {
                "start": (day0 + timedelta(days=1)).astimezone(UTC),
                "alarms": 1,
                "cases": 0,
                "maintenance_cases": 0,
            },
            {
                "start": (day0 + timedelta(days=2)).astimezone(UTC),
                "alarms": 0,
                "cases": 0,
                "maintenance_cases": 0,
            },
        ],
    }
    # Both cases were opened at T0 by the ingest clock (16:00 on the first day in Shanghai); the
    # events themselves fall on either side of midnight.
    with db.read() as s:
        hours = compute(
            s, Scope(None, "x", "viewer", None), day0 + timedelta(hours=23), day0 + timedelta(hours=26)
        )
    assert [(p["start"], p["alarms"]) for p in hours["series"]["points"]] == [
        ((day0 + timedelta(hours=23)).astimezone(UTC), 1),
        ((day0 + timedelta(hours=24)).astimezone(UTC), 1),
        ((day0 + timedelta(hours=25)).astimezone(UTC), 0),
    ]


def test_day_buckets_keep_local_midnight_across_a_clock_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # summer time ends on 2026-10-25
    period = Period(datetime(2026, 10, 24, tzinfo=berlin), datetime(2026, 10, 27, tzinfo=berlin), berlin)
    assert period.bucket == "day"
    assert period.boundaries() == [
        datetime(2026, 10, 23, 22, tzinfo=UTC),
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    ]
    weeks = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))
    assert weeks.bucket == "week"
    assert weeks.boundaries()[:2] == [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)]
    assert len(weeks.boundaries()) == 22


@pytest.mark.parametrize(
    ("since", "until", "why"),
    [
        (T0, T0, "until must be after since"),
        (T0, T0 - timedelta(hours=1), "until must be after since"),
        (T0, T0 + timedelta(days=401), "a period is at most 400 days"),
    ],
)
def test_a_bad_period_is_refused(since: datetime, until: datetime, why: str) -> None:
    with pytest.raises(Invalid) as caught:
        Period(since, until)
    assert (caught.value.reason, caught.value.detail) == ("bad_period", why)


def test_sibling_regions_and_device_health(db: Database) -> None:
    with db.write() as s:
        # A 433 MHz pendant has no supervision: nobody would notice it going silent.
        upsert_device(
            s, "rf-ev1527-01e9f5", {"gateway": "gw-xicun-01", "model": "ev1527-panic", "name": "挂件"}
        )
        store_events(s, [ev(1, "panic", device="sn-00a3")], T0)
        store_events(s, [ev(2, "device_missing", device="sn-00a4")], T0)
        store_events(s, [ev(1, "panic", device="sn-0b01", gateway="gw-xicun-01")], T0)
        store_events(s, [ev(2, "tamper", device="sn-0b01", gateway="gw-xicun-01")], T0)
    with db.read() as s:
        got = compute(s, Scope(None, "x", "viewer", "c01"), T0, _t(3600))
    rows = {
        r["region"]: (r["name"], r["alarms"], r["cases"], r["maintenance_cases"], r["device_health"])
        for r in got["children"]
    }
    assert rows == {
        "c01/t03": (
            "河镇",
            1,
            1,
            1,
            {
                "devices": 2,
                "missing": 1,
                "low_battery": 0,
                "tamper": 0,
                "unsupervised": 0,
                "open_maintenance_cases": 1,
                "gateways_offline": 0,
            },
        ),
        "c01/t05": (
            "山镇",
            1,
            1,
            1,
            {
                "devices": 2,
                "missing": 0,
                "low_battery": 0,
                "tamper": 1,
                "unsupervised": 1,
                "open_maintenance_cases": 1,
                "gateways_offline": 0,
            },
        ),
    }
    assert got["device_health"] == {
        "devices": 4,
        "missing": 1,
        "low_battery": 0,
        "tamper": 1,
        "unsupervised": 1,
        "open_maintenance_cases": 2,
        "gateways_offline": 0,
    }
    # A grid has no children.
    with db.read() as s:
        assert compute(s, Scope(None, "x", "viewer", "c01/t03/v12/g4"), T0, _t(60))["children"] == []


def test_stats_route_is_scoped(server: Running) -> None:
    c = server.client
    q = "/api/v1/stats?since=2026-11-23T00:00:00&until=2026-11-24T00:00:00"
    assert c.get(q, headers=server.token("duty-t03")).json()["region"] == "c01/t03"
    assert (
        c.get(q + "&region=c01/t03/v12", headers=server.token("duty-t03")).json()["region"] == "c01/t03/v12"
    )
    assert c.get(q + "&region=c01/t05", headers=server.token("duty-t03")).status_code == 404
    assert c.get(q).status_code == 401


def test_stats_route_takes_a_time_zone_and_refuses_bad_ones(server: Running) -> None:
    c = server.client
    q = "/api/v1/stats?since=2026-11-23T00:00:00%2B08:00&until=2026-11-30T00:00:00%2B08:00"
    got = c.get(q + "&tz=Asia/Shanghai", headers=server.token("duty-t03")).json()
    assert got["series"]["bucket"] == "day"
    assert [p["start"] for p in got["series"]["points"]][:2] == [
        "2026-11-22T16:00:00Z",
        "2026-11-23T16:00:00Z",
    ]
    assert [r["region"] for r in got["children"]] == ["c01/t03/v12"]
    bad = c.get(q + "&tz=Mars/Olympus", headers=server.token("duty-t03"))
    assert (bad.status_code, bad.json()["reason"]) == (422, "bad_time_zone")
    backwards = c.get(
        "/api/v1/stats?since=2026-11-24T00:00:00&until=2026-11-23T00:00:00", headers=server.token("duty-t03")
    )
    assert (backwards.status_code, backwards.json()["reason"]) == (422, "bad_period")
