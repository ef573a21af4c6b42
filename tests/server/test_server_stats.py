"""KPIs over a small, fully known history."""

from __future__ import annotations

from datetime import timedelta

from server.db.engine import Database
from server.deadlines import Escalator
from server.ingest.store import store_events
from server.scope import SYSTEM, Scope
from server.settings import Deadlines
from server.stats import compute
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
    assert got == {
        "since": T0,
        "until": _t(3600),
        "region": "c01/t03",
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
        "device_health": {"open_maintenance_cases": 1, "gateways_offline": 0},
    }


def test_stats_route_is_scoped(server: Running) -> None:
    c = server.client
    q = "/api/v1/stats?since=2026-11-23T00:00:00&until=2026-11-24T00:00:00"
    assert c.get(q, headers=server.token("duty-t03")).json()["region"] == "c01/t03"
    assert (
        c.get(q + "&region=c01/t03/v12", headers=server.token("duty-t03")).json()["region"] == "c01/t03/v12"
    )
    assert c.get(q + "&region=c01/t05", headers=server.token("duty-t03")).status_code == 404
    assert c.get(q).status_code == 401
