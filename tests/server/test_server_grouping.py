"""Alarm grouping: one open case per (device, alarm class), decided by the database."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from server.db.engine import Database
from server.db.models import Case, CaseEvent, EventRow
from server.ingest.store import store_events
from server.scope import SYSTEM
from server.workflow import apply_action
from tests.server.srv_support import T0, ev


def _cases(db: Database) -> list[tuple[str, str, str, bool, int]]:
    with db.read() as s:
        return [
            (c.device_id, c.alarm_class, c.state, c.is_open, c.event_count)
            for c in s.scalars(select(Case).order_by(Case.id))
        ]


def test_repeat_panic_joins_the_open_case(db: Database) -> None:
    with db.write() as s:
        first = store_events(s, [ev(1, "panic", device_seq=1)], T0)
    with db.write() as s:
        second = store_events(s, [ev(2, "panic", device_seq=2), ev(3, "fire"), ev(4, "heartbeat")], T0)
    # PostgreSQL spends a sequence number on every ON CONFLICT, so ids are not 1, 2, 3.
    assert len(first.cases_opened) == 1 and len(second.cases_opened) == 1
    assert [a.payload["type"] for a in first.alerts + second.alerts] == [
        "case_opened",
        "event_attached",
        "case_opened",
    ]
    assert _cases(db) == [("sn-00a3", "panic", "new", True, 2), ("sn-00a3", "fire", "new", True, 1)]


def test_cancel_and_restore_settle_without_opening(db: Database) -> None:
    with db.write() as s:
        res = store_events(s, [ev(1, "panic_cancel"), ev(2, "battery_ok"), ev(3, "door_open")], T0)
    assert (res.new, res.cases_opened, res.alerts) == (
        ["gw-dongcun-01:1", "gw-dongcun-01:2", "gw-dongcun-01:3"],
        [],
        [],
    )
    with db.write() as s:
        store_events(s, [ev(4, "low_battery")], T0)
        res = store_events(s, [ev(5, "battery_ok")], T0)
    assert [a.payload["type"] for a in res.alerts] == ["event_attached"]
    assert _cases(db) == [("sn-00a3", "battery", "new", True, 2)]


def test_closed_case_lets_the_next_alarm_open_a_new_one(db: Database) -> None:
    with db.write() as s:
        first = store_events(s, [ev(1, "panic")], T0)
    with db.write() as s:
        apply_action(s, first.cases_opened[0], SYSTEM, "false_alarm", T0)
    with db.write() as s:
        res = store_events(s, [ev(2, "panic")], T0)
    assert len(res.cases_opened) == 1 and res.cases_opened != first.cases_opened
    assert _cases(db) == [("sn-00a3", "panic", "closed", False, 1), ("sn-00a3", "panic", "new", True, 1)]


def _race(db: Database, batches: list[list[object]]) -> None:
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def run(batch: list[object]) -> None:
        try:
            barrier.wait()
            with db.write() as s:
                store_events(s, batch, T0)  # type: ignore[arg-type]
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_concurrent_alarms_from_one_device_make_one_case(db: Database) -> None:
    # Two server instances (threads here) each get a different panic of the same device: two
    # batches of its gateway, split by the shared subscription. (Another gateway's word about the
    # device would be quarantined, see test_server_quarantine.)
    for round_ in range(5):
        base = round_ * 10
        _race(db, [[ev(base + 1, "panic")], [ev(base + 2, "panic")]])
        with db.read() as s:
            open_cases = s.scalars(select(Case).where(Case.is_open.is_(True))).all()
            assert [(c.alarm_class, c.event_count) for c in open_cases] == [("panic", 2)]
        with db.write() as s:
            apply_action(s, open_cases[0].id, SYSTEM, "false_alarm", T0)


def test_concurrent_duplicate_event_is_stored_once(db: Database) -> None:
    _race(db, [[ev(7, "panic")], [ev(7, "panic")], [ev(7, "panic")]])
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 1
        assert s.scalar(select(func.count()).select_from(CaseEvent)) == 1
    assert _cases(db) == [("sn-00a3", "panic", "new", True, 1)]
