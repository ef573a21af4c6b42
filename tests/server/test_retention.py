"""Refused input stays bounded: the newest rows are kept, older and surplus ones go."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from server.db.engine import Database
from server.db.models import DeadLetter, QuarantinedEvent
from server.ingest.dead_letters import record_dead_letter
from server.metrics import Metrics
from server.retention import Retention, housekeep, prune_refused
from tests.server.srv_support import T0


def _quarantined(n: int, days_ago: int = 0) -> QuarantinedEvent:
    return QuarantinedEvent(
        event_id="gw-xicun-01:%d" % n, gateway_id="gw-xicun-01", device_id="sn-00a3",
        device_gateway_id="gw-dongcun-01", kind="panic", priority="alarm", at=T0,
        received_at=T0 - timedelta(days=days_ago), device_seq=None, data={}, digest="%064d" % n,
        region_path="c01/t03/v12/g4", gateway_region_path="c01/t05/v01/g1",
    )


def test_the_newest_rows_are_kept_and_the_rest_pruned(db: Database) -> None:
    keep = Retention(keep_rows=3, keep_days=30)
    with db.write() as s:
        record_dead_letter(s, "gw-xicun-01", "sw/v1/gw/gw-xicun-01/events", b"old", "not_json", "x",
                           T0 - timedelta(days=31))
        for n in range(5):
            record_dead_letter(s, "gw-xicun-01", "sw/v1/gw/gw-xicun-01/events", b"junk %d" % n, "not_json",
                               "x", T0)
        s.add(_quarantined(0, days_ago=40))
        s.add_all(_quarantined(n) for n in range(1, 6))
    with db.write() as s:
        assert prune_refused(s, T0, keep) == {"dead_letters": 3, "quarantined_events": 3}
    with db.read() as s:
        assert list(s.scalars(select(DeadLetter.payload).order_by(DeadLetter.id))) == [
            b"junk 2", b"junk 3", b"junk 4"]
        assert list(s.scalars(select(QuarantinedEvent.event_id).order_by(QuarantinedEvent.id))) == [
            "gw-xicun-01:3", "gw-xicun-01:4", "gw-xicun-01:5"]
    with db.write() as s:  # within bounds: nothing more goes
        assert prune_refused(s, T0, keep) == {"dead_letters": 0, "quarantined_events": 0}


def test_a_dead_letter_heard_again_lately_is_kept(db: Database) -> None:
    with db.write() as s:
        topic = "sw/v1/gw/x/events"
        record_dead_letter(s, None, topic, b"again", "not_json", "x", T0 - timedelta(days=100))
        record_dead_letter(s, None, topic, b"again", "not_json", "x", T0)  # counted again, last_at now
    with db.write() as s:
        assert prune_refused(s, T0) == {"dead_letters": 0, "quarantined_events": 0}
    with db.read() as s:
        assert s.scalars(select(DeadLetter.count)).all() == [2]


def test_a_housekeeping_round_counts_what_it_pruned(db: Database) -> None:
    with db.write() as s:
        record_dead_letter(s, None, "sw/v1/gw/x/events", b"stale", "not_json", "x", T0 - timedelta(days=91))
    metrics = Metrics()
    housekeep(db, T0, metrics)
    assert metrics.get("refused_pruned", reason="dead_letters") == 1
    assert metrics.get("refused_pruned", reason="quarantined_events") == 0
