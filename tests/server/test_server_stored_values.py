"""Nothing stored may break reading it back, publishing it or the deadline loop.

Ingest refuses what cannot be encoded, but rows written before that rule (or by hand) must not
turn a case page, an event list, an alert or an escalation into an error. Here such a row is
written behind the application's back, the way an old version stored it.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text

from server.db.models import Case, EventRow
from server.publish import dumps
from tests.server.srv_support import T0, FakeGateway, Running, Watcher, ev

LEGACY_ID = "gw-dongcun-01:1"


def _write_legacy_row(server: Running) -> None:
    db = server.services.db
    # PostgreSQL's json type refuses NaN but keeps a lone surrogate escape; SQLite keeps both.
    raw = '{"s":"\\ud800","k\\udfff":[1,"\\udbff"]%s}' % (',"x":NaN' if db.dialect == "sqlite" else "")
    with db.write() as s:
        s.add(
            EventRow(
                id=LEGACY_ID,
                gateway_id="gw-dongcun-01",
                seq=1,
                device_id="sn-00a3",
                kind="panic",
                priority="alarm",
                at=T0,
                received_at=T0,
                device_seq=4,
                data={},
                region_path="c01/t03/v12/g4",
            )
        )
        s.flush()
        s.execute(text("UPDATE events SET data = :data WHERE id = :id"), {"id": LEGACY_ID, "data": raw})


def _expected_data(server: Running) -> dict[str, object]:
    data: dict[str, object] = {"s": "\ufffd", "k\ufffd": [1, "\ufffd"]}
    if server.services.db.dialect == "sqlite":
        data["x"] = None
    return data


def test_an_unencodable_stored_value_breaks_nothing(server: Running, watcher: Watcher) -> None:
    _write_legacy_row(server)
    gw = FakeGateway(server.broker.url)
    try:
        gw.send([ev(2, "panic", device_seq=5)])
        watcher.next("sw/v1/gw/")
        watcher.next("sw/v1/duty/")
    finally:
        gw.close()
    db = server.services.db
    with db.write() as s:  # the legacy event joins the case and is its latest event
        (case_id,) = s.execute(text("SELECT id FROM cases")).one()
        link = {"c": case_id, "e": LEGACY_ID}
        s.execute(text("INSERT INTO case_events (case_id, event_id) VALUES (:c, :e)"), link)
        s.execute(text("UPDATE cases SET last_event_id = :e WHERE id = :c"), link)

    admin = server.token("admin", "Admin-Password-2026")
    case = server.client.get("/api/v1/cases/%d" % case_id, headers=admin)
    assert case.status_code == 200
    assert [(e["id"], e["data"]) for e in case.json()["events"]] == [
        (LEGACY_ID, _expected_data(server)),
        ("gw-dongcun-01:2", {}),
    ]
    events = server.client.get("/api/v1/events", headers=admin)
    assert events.status_code == 200
    assert [e["data"] for e in events.json()["items"] if e["id"] == LEGACY_ID] == [_expected_data(server)]

    # The deadline loop builds and publishes alerts holding the legacy event.
    escalator = server.client.app.state.escalator  # type: ignore[attr-defined]
    (yellow,) = escalator.tick(T0 + timedelta(seconds=48))
    assert yellow.payload["type"] == "case_updated"
    assert yellow.payload["event"]["data"] == _expected_data(server)
    assert json.loads(dumps(yellow.payload))["event"]["data"] == _expected_data(server)
    with db.read() as s:
        assert s.get(Case, case_id).deadline_status == "yellow"  # type: ignore[union-attr]


def test_publishing_never_fails_on_a_value_json_cannot_carry() -> None:
    payload = {"a": "\ud800x", "b": float("nan"), "c": [float("inf"), {"\udc00": 1}], "d": "东村"}
    assert json.loads(dumps(payload)) == {"a": "\ufffdx", "b": None, "c": [None, {"\ufffd": 1}], "d": "东村"}
