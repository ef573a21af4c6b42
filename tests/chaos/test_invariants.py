"""The chaos suite's checks find what they are meant to find (no process needed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.chaos.invariants import (
    ServerEvent,
    alarms_in_one_case,
    as_sent,
    cases_alerted,
    duty_topic,
    stored_exactly_once,
)
from tests.chaos.stack import ServerDb


def _ev(id: str, device: str, device_seq: int | None, kind: str = "panic") -> ServerEvent:
    return ServerEvent(id, "gw-dongcun-01", device, device_seq, kind)


def _db(tmp_path: Path, script: str) -> ServerDb:
    path = tmp_path / "server.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    return ServerDb("sqlite:///%s" % path)


def test_stored_events_missing_or_held_twice_are_named() -> None:
    events = [
        _ev("gw-dongcun-01:1", "sn-00a3", 1),
        _ev("gw-dongcun-01:2", "sn-00a3", 1),  # the same press stored under two ids
        _ev("gw-dongcun-01:3", "sn-00a3", 2),
        _ev("gw-dongcun-01:4", "sn-00a3", None, "device_back"),  # the gateway's own event
        _ev("gw-dongcun-01:5", "sn-00a4", 7, "door_open"),
    ]
    stored = {"sn-00a3": {1, 2, 3}, "sn-00a4": {7}, "sn-01b1": {1}}
    assert stored_exactly_once(stored, events) == (
        {"sn-00a3": [3], "sn-01b1": [1]},
        {"sn-00a3": [1]},
    )
    assert stored_exactly_once({"sn-00a3": {1}}, events[:1]) == ({}, {})


def test_events_not_as_the_device_sent_them_are_named() -> None:
    events = [
        _ev("gw-dongcun-01:1", "sn-00a3", 1, "panic"),
        _ev("gw-dongcun-01:2", "sn-00a3", 2, "panic"),  # sent as a cancel
        _ev("gw-dongcun-01:3", "sn-00a3", 9, "panic"),  # never sent
        _ev("gw-dongcun-01:4", "sn-00a3", None, "device_back"),
        _ev("gw-dongcun-01:5", "sn-0b01", 1, "panic"),  # a device the test does not drive
    ]
    sent = {"sn-00a3": {1: "panic", 2: "panic_cancel"}}
    assert as_sent(sent, events) == {"sn-00a3": [2, 9]}
    assert as_sent(sent, events[:1]) == {}


def test_alarms_outside_exactly_one_case_are_named(tmp_path: Path) -> None:
    db = _db(tmp_path, """
        CREATE TABLE case_events (case_id INTEGER, event_id TEXT);
        INSERT INTO case_events VALUES (1, 'gw:1'), (1, 'gw:3'), (2, 'gw:3'), (1, 'gw:4');
    """)
    events = [
        _ev("gw:1", "sn-00a3", 1, "panic"),
        _ev("gw:2", "sn-00a3", 2, "panic"),  # in no case
        _ev("gw:3", "sn-00a3", 3, "fire"),  # in two
        _ev("gw:4", "sn-00a3", 4, "panic_cancel"),  # settles a case, opens none: not an alarm here
        _ev("gw:5", "sn-00a4", 1, "door_open"),  # no case by design
    ]
    assert alarms_in_one_case(db, events) == {"gw:2": 0, "gw:3": 2}


def test_cases_without_an_alert_on_their_own_duty_topic_are_named(tmp_path: Path) -> None:
    db = _db(tmp_path, """
        CREATE TABLE cases (id INTEGER, region_path TEXT);
        INSERT INTO cases VALUES (1, 'c01/t03/v12/g4'), (2, 'c01/t03/v12/g4'), (3, NULL), (4, 'c01/t05');
    """)
    alerts = [
        ("sw/v1/duty/c01/t03/v12/g4/alerts", {"type": "case_opened", "case": {"id": 1}}),
        ("sw/v1/duty/c01/t05/alerts", {"type": "case_opened", "case": {"id": 2}}),  # someone else's room
        ("sw/v1/duty/unassigned/alerts", {"type": "case_opened", "case": {"id": 3}}),
        ("sw/v1/duty/c01/t05/alerts", {"type": "notice"}),  # not about a case
    ]
    assert cases_alerted(db, alerts) == {
        2: "sw/v1/duty/c01/t03/v12/g4/alerts",
        4: "sw/v1/duty/c01/t05/alerts",
    }
    assert duty_topic(None) == "sw/v1/duty/unassigned/alerts"


def test_a_database_not_created_yet_holds_nothing(tmp_path: Path) -> None:
    assert ServerDb("sqlite:///%s" % (tmp_path / "absent.db")).rows("SELECT id FROM events") == []
