"""Deadlines and escalation, driven by an injected clock; exactly once across instances."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from server import deadlines as deadlines_module
from server.db.engine import Database
from server.db.models import Case, Gateway
from server.deadlines import Escalator, escalation_path, top_level
from server.ingest.store import store_events
from server.metrics import Metrics
from server.scope import SYSTEM
from server.settings import Deadlines
from server.workflow import apply_action
from tests.server.srv_support import T0, ev


def _at(seconds: float) -> object:
    return T0 + timedelta(seconds=seconds)


def _summary(alerts: list) -> list[tuple[str, str, int, list[str]]]:  # type: ignore[type-arg]
    return [
        (
            a.payload["type"],
            a.payload["case"]["deadline_status"],
            a.payload["case"]["escalation_level"],
            a.region_path,
        )
        for a in alerts
    ]


def test_escalation_path() -> None:
    assert escalation_path("c01/t03/v12/g4", 0) == ["c01", "t03", "v12", "g4"]
    assert escalation_path("c01/t03/v12/g4", 1) == ["c01", "t03", "v12"]
    assert escalation_path("c01/t03/v12/g4", 7) == ["c01"]
    assert escalation_path(None, 2) == []
    # How far up a case can rise: to the root of its tree, and at least one step (red).
    assert [top_level(p) for p in ("c01/t03/v12/g4", "c01/t03", "c01", None)] == [3, 1, 1, 1]


def test_panic_yellow_red_escalates_until_accepted(db: Database) -> None:
    esc = Escalator(db, lambda: T0, Deadlines())
    with db.write() as s:
        case_id = store_events(s, [ev(1, "panic")], T0).cases_opened[0]
    assert esc.tick(_at(47)) == []  # 80 % of 60 s is 48 s
    assert _summary(esc.tick(_at(48))) == [("case_updated", "yellow", 0, ["c01", "t03", "v12", "g4"])]
    assert esc.tick(_at(59)) == []
    assert _summary(esc.tick(_at(60))) == [("case_escalated", "red", 1, ["c01", "t03", "v12"])]
    assert esc.tick(_at(60)) == []  # once per step, however often we look
    assert esc.tick(_at(119)) == []
    assert _summary(esc.tick(_at(120))) == [("case_escalated", "red", 2, ["c01", "t03"])]
    assert _summary(esc.tick(_at(180))) == [("case_escalated", "red", 3, ["c01"])]
    # At the root it stops rising and keeps calling the county.
    assert _summary(esc.tick(_at(240))) == [("case_escalated", "red", 3, ["c01"])]
    assert _summary(esc.tick(_at(300))) == [("case_escalated", "red", 3, ["c01"])]
    with db.write() as s:
        out = apply_action(s, case_id, SYSTEM, "accept", _at(310))  # type: ignore[arg-type]
        assert (out.case.deadline, out.case.deadline_status, out.case.escalation_level) == (
            _at(910),
            "green",
            0,
        )
    assert esc.tick(_at(360)) == []
    # The next step has its own clock: dispatch within 10 min of acceptance.
    assert _summary(esc.tick(_at(310 + 480))) == [
        ("case_updated", "yellow", 0, ["c01", "t03", "v12", "g4"])
    ]
    assert _summary(esc.tick(_at(910)))[0][:3] == ("case_escalated", "red", 1)


def test_escalated_alert_payload(db: Database) -> None:
    esc = Escalator(db, lambda: T0, Deadlines())
    with db.write() as s:
        store_events(s, [ev(1, "panic", device_seq=9)], T0)
    esc.tick(_at(48))
    (alert,) = esc.tick(_at(60))
    p = alert.payload
    assert (p["type"], p["escalation"], p["region"]["path"]) == (
        "case_escalated",
        {"level": 1, "region": ["c01", "t03", "v12"]},
        ["c01", "t03", "v12", "g4"],
    )
    assert (p["event"]["device_seq"], p["case"]["deadline"]) == (9, "2026-11-23T08:01:00.301Z")


def test_late_start_goes_red_at_once_and_extend_resets(db: Database) -> None:
    esc = Escalator(db, lambda: T0, Deadlines())
    with db.write() as s:
        case_id = store_events(s, [ev(1, "panic")], T0).cases_opened[0]
    # The server was down for ten minutes: one tick does yellow, the next one red.
    assert [a[0] for a in _summary(esc.tick(_at(600)))] == ["case_updated"]
    assert _summary(esc.tick(_at(600)))[0][:3] == ("case_escalated", "red", 1)
    with db.write() as s:
        apply_action(s, case_id, SYSTEM, "accept", _at(600))  # type: ignore[arg-type]
        out = apply_action(s, case_id, SYSTEM, "extend", _at(601), data={"seconds": 3600})  # type: ignore[arg-type]
        assert out.case.deadline == _at(600 + 600 + 3600)
    assert esc.tick(_at(1200)) == []


def test_closed_cases_are_left_alone(db: Database) -> None:
    esc = Escalator(db, lambda: T0, Deadlines())
    with db.write() as s:
        case_id = store_events(s, [ev(1, "fire")], T0).cases_opened[0]
        apply_action(s, case_id, SYSTEM, "false_alarm", _at(1))  # type: ignore[arg-type]
    assert esc.tick(_at(10_000)) == []


def test_configured_deadlines() -> None:
    d = Deadlines.from_json('{"accept": {"panic": 45}, "yellow": 0.5, "gateway_offline": 120}')
    assert (d.seconds("accept", "panic"), d.seconds("accept", "fire"), d.yellow, d.gateway_offline) == (
        45.0,
        60.0,
        0.5,
        120.0,
    )


def test_exactly_once_with_several_instances(db: Database) -> None:
    with db.write() as s:
        for i in range(30):
            store_events(s, [ev(i + 1, "panic", device="sn-%x" % (0x100 + i))], T0)
    instances = [Escalator(db, lambda: T0, Deadlines()) for _ in range(3)]
    got: list[list] = [[] for _ in instances]  # type: ignore[type-arg]
    for moment in (48, 60, 120):
        barrier = threading.Barrier(len(instances))

        def run(i: int, at: float = moment, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            got[i].extend(instances[i].tick(_at(at)))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(instances))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    alerts = [a for g in got for a in g]
    steps = sorted(
        (a.payload["case"]["id"], a.payload["case"]["escalation_level"], a.payload["type"]) for a in alerts
    )
    assert len(steps) == 90 and len(set(steps)) == 90  # 30 cases x (yellow, red 1, red 2), none twice


def test_offline_gateway_becomes_a_maintenance_case(db: Database) -> None:
    esc = Escalator(db, lambda: T0, Deadlines(gateway_offline=600))
    with db.write() as s:
        gw = s.get(Gateway, "gw-dongcun-01")
        assert gw is not None
        gw.status, gw.status_at = "offline", T0
    assert esc.tick(_at(599)) == []
    (alert,) = esc.tick(_at(600))
    assert esc.tick(_at(700)) == []  # one case, however long it stays offline
    p = alert.payload
    assert (p["type"], p["case"]["alarm_class"], p["station"], alert.region_path) == (
        "case_opened",
        "gateway_offline",
        {"code": "st-dongcun", "name": "东村服务站"},
        ["c01", "t03", "v12", "g4"],
    )
    with db.read() as s:
        case = s.scalars(select(Case)).one()
        assert (case.category, case.device_id, case.state) == ("maintenance", "gw-dongcun-01", "new")


def test_gateway_back_online_is_noted_on_its_case(db: Database) -> None:
    from protocol.topics import Topics
    from server.db.models import CaseAction
    from server.ingest.mqtt import Inbound
    from server.ingest.worker import IngestWorker
    from server.metrics import Metrics

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes]] = []

        def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
            self.sent.append((topic, payload))

    clock = [T0]
    rec = Recorder()
    worker = IngestWorker(db, rec, Topics(), Metrics(), clock=lambda: clock[0])
    topic = "sw/v1/gw/gw-dongcun-01/status"
    worker.handle(Inbound(topic, b'{"state":"offline"}', 0.0))
    clock[0] = T0 + timedelta(seconds=300)
    worker.handle(Inbound(topic, b'{"state":"offline"}', 0.0))  # retained copy after a reconnect
    with db.read() as s:
        gw = s.get(Gateway, "gw-dongcun-01")
        assert gw is not None and gw.status_at == T0  # the offline clock was not reset
    assert len(Escalator(db, lambda: T0, Deadlines()).tick(T0 + timedelta(seconds=600))) == 1
    worker.handle(Inbound(topic, b'{"state":"online"}', 0.0))
    assert [t for t, _ in rec.sent] == ["sw/v1/duty/c01/t03/v12/g4/alerts"]
    with db.read() as s:
        notes = [(a.action, a.actor, a.note) for a in s.scalars(select(CaseAction).order_by(CaseAction.id))]
    assert notes[-1] == ("comment", "system", "gateway back online")


def _walk(db: Database, case_id: int, actions: list[str], at: float, deadlines: Deadlines) -> None:
    with db.write() as s:
        for action in actions:
            apply_action(s, case_id, SYSTEM, action, _at(at), deadlines=deadlines)  # type: ignore[arg-type]


def test_every_open_state_has_a_deadline(db: Database) -> None:
    """A replied case waits for verification, a verified one for closing: both run late too."""
    d = Deadlines.from_json('{"verify": {"default": 3600}, "close": {"fire": 600}}')
    assert (d.seconds("verify", "panic"), d.seconds("close", "fire"), d.seconds("close", "panic")) == (
        3600.0,
        600.0,
        86400.0,
    )
    esc = Escalator(db, lambda: T0, d)
    with db.write() as s:
        case_id = store_events(s, [ev(1, "fire")], T0).cases_opened[0]
    _walk(db, case_id, ["accept", "dispatch", "start", "reply"], 10, d)
    with db.read() as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.state, case.deadline) == ("replied", _at(10 + 3600))
    assert _summary(esc.tick(_at(10 + 2880))) == [("case_updated", "yellow", 0, ["c01", "t03", "v12", "g4"])]
    assert _summary(esc.tick(_at(10 + 3600))) == [("case_escalated", "red", 1, ["c01", "t03", "v12"])]
    _walk(db, case_id, ["verify"], 4000, d)
    with db.read() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.state, case.deadline, case.deadline_status, case.escalation_level) == (
            "verified",
            _at(4600),
            "green",
            0,
        )
    assert _summary(esc.tick(_at(4600))) == [("case_updated", "yellow", 0, ["c01", "t03", "v12", "g4"])]
    assert _summary(esc.tick(_at(4600))) == [("case_escalated", "red", 1, ["c01", "t03", "v12"])]
    _walk(db, case_id, ["return"], 4700, d)  # 回退: back to handling, with the handling clock
    with db.read() as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.state, case.deadline) == ("handling", _at(4700 + 7200))
    _walk(db, case_id, ["reply", "verify", "close"], 4800, d)
    with db.read() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.state, case.deadline, case.next_escalation_at) == ("closed", None, None)
    assert esc.tick(_at(100_000)) == []


def test_escalation_of_county_and_unassigned_cases_stops_at_once(db: Database) -> None:
    esc = Escalator(db, lambda: T0, Deadlines())
    with db.write() as s:
        unassigned = store_events(s, [ev(1, "panic", device="sn-ffff", gateway="gw-unknown-9")], T0)
        county = store_events(s, [ev(2, "panic", device="sn-0b01", gateway="gw-xicun-01")], T0)
        case = s.get(Case, county.cases_opened[0])
        assert case is not None
        case.region_path = "c01"
    esc.tick(_at(48))
    levels = [
        sorted((a.payload["case"]["escalation_level"], tuple(a.region_path)) for a in esc.tick(_at(60 * i)))
        for i in range(1, 5)
    ]
    assert levels == [[(1, ()), (1, ("c01",))]] * 4
    assert len(unassigned.cases_opened) == 1


def test_one_failing_case_does_not_stop_the_others(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case whose deadline step fails is logged and counted; the loop goes on with the rest,
    and the failing case catches up once it can."""
    monkeypatch.setattr(deadlines_module, "BATCH", 2)  # the failing case sits in a full batch
    with db.write() as s:
        ids = [
            store_events(s, [ev(i + 1, "panic", device="sn-%x" % (0x100 + i))], T0).cases_opened[0]
            for i in range(5)
        ]
    broken = ids[1]
    _refuse_updates(db, broken)
    metrics = Metrics()
    esc = Escalator(db, lambda: T0, Deadlines(), metrics=metrics)
    alerts = esc.tick(_at(48))
    assert sorted(a.payload["case"]["id"] for a in alerts) == sorted(set(ids) - {broken})
    assert esc.tick(_at(49)) == []  # the others are done; the broken one fails again
    assert metrics.get("deadline_errors") == 2
    alerts = esc.tick(_at(60))
    assert sorted(a.payload["case"]["id"] for a in alerts) == sorted(set(ids) - {broken})
    assert all(a.payload["type"] == "case_escalated" for a in alerts)
    _allow_updates(db)
    (late,) = esc.tick(_at(61))
    assert (late.payload["case"]["id"], late.payload["case"]["deadline_status"]) == (broken, "yellow")
    (red,) = esc.tick(_at(61))
    assert (red.payload["case"]["id"], red.payload["type"]) == (broken, "case_escalated")
    assert metrics.get("deadline_errors") == 3


def _refuse_updates(db: Database, case_id: int) -> None:
    """A database that refuses to change one case (as a broken row or a constraint would)."""
    with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_case BEFORE UPDATE ON cases WHEN OLD.id = %d"
                " BEGIN SELECT RAISE(ABORT, 'case refused'); END" % case_id
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_case() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION 'case refused'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_case BEFORE UPDATE ON cases FOR EACH ROW"
                " WHEN (OLD.id = %d) EXECUTE FUNCTION refuse_case()" % case_id
            )


def _allow_updates(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "DROP TRIGGER refuse_case" if db.dialect == "sqlite" else "DROP TRIGGER refuse_case ON cases"
        )
