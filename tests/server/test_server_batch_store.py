"""A batch is stored with one statement: new and already-known events told apart exactly."""

from __future__ import annotations

from sqlalchemy import func, select

from server.db.engine import Database
from server.db.models import Case, CaseEvent, EventRow
from server.ingest.store import store_events
from tests.server.srv_support import T0, ev


def test_batch_with_known_and_new_events(db: Database) -> None:
    with db.write() as session:
        first = store_events(session, [ev(1), ev(2, "door_open", device="sn-00a4")], T0)
    assert first.new == ["gw-dongcun-01:1", "gw-dongcun-01:2"]

    batch = [ev(2, "door_open", device="sn-00a4"), ev(3), ev(1), ev(4, "heartbeat"), ev(3)]
    with db.write() as session:
        second = store_events(session, batch, T0)
    assert second.new == ["gw-dongcun-01:3", "gw-dongcun-01:4"]
    assert second.duplicates == ["gw-dongcun-01:2", "gw-dongcun-01:1", "gw-dongcun-01:3"]
    assert sorted(second.seqs) == [1, 2, 3, 3, 4]

    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EventRow)) == 4
        cases = session.scalars(select(Case)).all()
        assert [(c.device_id, c.alarm_class, c.event_count) for c in cases] == [("sn-00a3", "panic", 2)]
        assert session.scalar(select(func.count()).select_from(CaseEvent)) == 2


def test_panic_cancel_then_panic_in_one_batch_opens_a_second_case(db: Database) -> None:
    batch = [ev(1), ev(2, "panic_cancel"), ev(3)]
    with db.write() as session:
        result = store_events(session, batch, T0)
    assert result.new == ["gw-dongcun-01:1", "gw-dongcun-01:2", "gw-dongcun-01:3"]
    with db.read() as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        assert [(c.state, c.resolution, c.is_open, c.last_event_id) for c in cases] == [
            ("closed", "cancelled", False, "gw-dongcun-01:2"),
            ("new", None, True, "gw-dongcun-01:3"),
        ]
    assert sorted(a.payload["type"] for a in result.alerts) == ["case_opened", "case_updated"]
