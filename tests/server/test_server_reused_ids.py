"""A gateway reinstalled under the same id starts its seqs at 1 again.

The server compares content on a repeated id: an identical resend stays a duplicate (acked
again, stored once); a different event under a used id is stored under a fresh
``<gateway>:<seq>`` above everything the server holds, processed like any event, counted,
logged and shown on the gateway's record, and the ack tells the gateway to move its sequence
past the server's high-water mark.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db.engine import Database
from server.db.models import Case, EventRow, Gateway
from server.ingest.store import store_events
from server.scope import SYSTEM
from server.workflow import apply_action
from tests.server.srv_support import T0, FakeGateway, Running, Watcher, ev

GW = "gw-dongcun-01"
LATER = T0 + timedelta(days=30)


def _events(db: Database) -> list[tuple[str, int, str, int | None, str | None]]:
    with db.read() as s:
        return [
            (r.id, r.seq, r.kind, r.device_seq, r.sent_id)
            for r in s.scalars(select(EventRow).order_by(EventRow.seq))
        ]


@pytest.fixture
def gateway(server: Running) -> FakeGateway:
    gw = FakeGateway(server.broker.url)
    yield gw
    gw.close()


def test_reinstalled_gateway_raises_a_new_case(
    server: Running, watcher: Watcher, gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    db = server.services.db
    old = [ev(1, "panic", device_seq=40), ev(2, "heartbeat"), ev(3, "door_open", "sn-00a4")]
    gateway.send(old)
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[1, 3]]}
    first_case = watcher.next("sw/v1/duty/")[1]["case"]["id"]
    with db.write() as s:
        apply_action(s, first_case, SYSTEM, "accept", T0)
        apply_action(s, first_case, SYSTEM, "close", T0)

    # The SD card died; the new install starts at seq 1 and a villager presses the button.
    caplog.set_level(logging.WARNING, logger="server.ingest")
    pressed = [ev(1, "panic", device_seq=1, at=LATER), ev(2, "heartbeat", at=LATER)]
    gateway.send(pressed)
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[1, 2]], "high_water": 5}
    topic, alert = watcher.next("sw/v1/duty/")
    assert (topic, alert["type"], alert["event"]["id"], alert["event"]["device_seq"]) == (
        "sw/v1/duty/c01/t03/v12/g4/alerts",
        "case_opened",
        "%s:4" % GW,
        1,
    )
    assert alert["case"]["id"] != first_case

    # Its resend is a duplicate of what it became; the old install's resend is one of the old row.
    gateway.send([*pressed, old[1]])
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[1, 2]], "high_water": 5}
    # Having moved past the mark, the gateway's next event is an ordinary one.
    gateway.send([ev(6, "panic_cancel", device_seq=2, at=LATER)])
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[6, 6]]}

    assert _events(db) == [
        ("%s:1" % GW, 1, "panic", 40, None),
        ("%s:2" % GW, 2, "heartbeat", None, None),
        ("%s:3" % GW, 3, "door_open", None, None),
        ("%s:4" % GW, 4, "panic", 1, "%s:1" % GW),
        ("%s:5" % GW, 5, "heartbeat", None, "%s:2" % GW),
        ("%s:6" % GW, 6, "panic_cancel", 2, None),
    ]
    with db.read() as s:
        cases = [(c.id, c.state, c.last_event_id) for c in s.scalars(select(Case).order_by(Case.id))]
        gw = s.get(Gateway, GW)
        assert gw is not None
        assert (gw.reused_seqs, gw.reused_seq_at) == (2, server.clock.now)
    assert cases == [(first_case, "closed", "%s:1" % GW), (alert["case"]["id"], "closed", "%s:6" % GW)]
    m = server.services.metrics
    assert (m.get("events_seq_reused"), m.get("events_ingested"), m.get("events_duplicate")) == (2, 6, 3)
    warnings = [r.getMessage() for r in caplog.records if "reused" in r.getMessage()]
    assert warnings == [
        "gateway %s reused 2 seqs it had sent before (a reinstall?): %s:1 stored as %s:4,"
        " %s:2 stored as %s:5; told to continue above 5" % (GW, GW, GW, GW, GW)
    ]

    body = server.client.get("/api/v1/gateways/%s" % GW, headers=server.token("duty-t03")).json()
    assert (body["reused_seqs"], body["reused_seq_at"]) == (2, "2026-11-23T08:00:00.301000Z")


def test_reused_ids_inside_one_batch_and_over_a_reassigned_seq(db: Database) -> None:
    with db.write() as s:
        store_events(s, [ev(1, "heartbeat"), ev(2, "heartbeat")], T0)
    with db.write() as s:
        # seq 3 is new; 1 and 2 are used; the batch also repeats its own new event 1.
        again = [ev(1, "door_open", "sn-00a4", at=LATER), ev(3, "heartbeat", at=LATER)]
        res = store_events(s, [*again, ev(2, "door_close", "sn-00a4", at=LATER), again[0]], T0)
    assert (res.new, res.duplicates, res.reassigned, res.high_water) == (
        ["%s:4" % GW, "%s:3" % GW, "%s:5" % GW],  # in batch order: cases see events in order
        ["%s:1" % GW],
        {"%s:1" % GW: "%s:4" % GW, "%s:2" % GW: "%s:5" % GW},
        5,
    )
    assert sorted(res.seqs) == [1, 1, 2, 3]
    with db.write() as s:
        # The gateway had not heard the mark yet: its own seq 4 meets the reassigned row 4.
        res = store_events(s, [ev(4, "heartbeat", at=LATER), again[0]], T0)
    assert (res.new, res.duplicates, res.reassigned, res.high_water) == (
        ["%s:6" % GW],
        ["%s:1" % GW],
        {"%s:4" % GW: "%s:6" % GW},
        6,
    )
    assert [(i, k, sent) for i, _, k, _, sent in _events(db)] == [
        ("%s:1" % GW, "heartbeat", None),
        ("%s:2" % GW, "heartbeat", None),
        ("%s:3" % GW, "heartbeat", None),
        ("%s:4" % GW, "door_open", "%s:1" % GW),
        ("%s:5" % GW, "door_close", "%s:2" % GW),
        ("%s:6" % GW, "heartbeat", "%s:4" % GW),
    ]
