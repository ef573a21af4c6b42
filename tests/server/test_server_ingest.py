"""MQTT ingest against a real Mosquitto: store, commit, then ack; idempotent; bad input counted."""

from __future__ import annotations

import json
import queue

import pytest
from sqlalchemy import func, select

from protocol.payloads import encode_ack, encode_events
from server.db.models import Case, EventRow
from tests.server.srv_support import FakeGateway, Running, Watcher, ev


def _rows(server: Running) -> list[tuple[str, str, int | None]]:
    with server.services.db.read() as s:
        return [(r.id, r.kind, r.device_seq) for r in s.scalars(select(EventRow).order_by(EventRow.seq))]


@pytest.fixture
def gateway(server: Running) -> FakeGateway:
    gw = FakeGateway(server.broker.url)
    yield gw
    gw.close()


def test_batch_is_stored_then_acked(server: Running, watcher: Watcher, gateway: FakeGateway) -> None:
    gateway.send(
        [ev(1, "heartbeat"), ev(2, "panic", device_seq=17, battery=87), ev(3, "door_open", "sn-00a4")]
    )
    topic, ack = watcher.next("sw/v1/gw/")
    # The ack is only sent after the commit, so the rows are there the moment it arrives.
    rows = _rows(server)
    assert topic == "sw/v1/gw/gw-dongcun-01/ack"
    assert ack == {"seqs": [[1, 3]]}
    assert rows == [
        ("gw-dongcun-01:1", "heartbeat", None),
        ("gw-dongcun-01:2", "panic", 17),
        ("gw-dongcun-01:3", "door_open", None),
    ]
    m = server.services.metrics
    assert (m.get("events_ingested"), m.get("events_duplicate"), m.get("cases_opened")) == (3, 0, 1)


def test_duplicate_batch_adds_nothing_and_is_acked_again(
    server: Running, watcher: Watcher, gateway: FakeGateway
) -> None:
    batch = [ev(5, "panic", device_seq=1), ev(6, "heartbeat")]
    gateway.send(batch)
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[5, 6]]}
    gateway.send([*batch, ev(7, "heartbeat")])  # a resend that overlaps a new event
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[5, 7]]}
    assert [r[0] for r in _rows(server)] == ["gw-dongcun-01:5", "gw-dongcun-01:6", "gw-dongcun-01:7"]
    with server.services.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
        assert s.scalars(select(Case)).one().event_count == 1
    m = server.services.metrics
    assert (m.get("events_ingested"), m.get("events_duplicate")) == (3, 2)


def test_malformed_json_is_counted_and_ingest_goes_on(
    server: Running, watcher: Watcher, gateway: FakeGateway
) -> None:
    gateway.send_raw(b'[{"v":1, "id": "gw-dongcun-01:1",')
    gateway.send_raw(b"\xff\xfe not utf-8")
    gateway.send_raw(b"[]")
    gateway.send([ev(9, "heartbeat")])
    assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/gw-dongcun-01/ack", {"seqs": [[9, 9]]})
    m = server.services.metrics
    assert m.get("events_rejected", "bad_json") == 2
    assert m.get("events_rejected", "bad_batch") == 1
    assert [r[0] for r in _rows(server)] == ["gw-dongcun-01:9"]


def test_bad_event_is_dropped_and_its_neighbours_stored(
    server: Running, watcher: Watcher, gateway: FakeGateway
) -> None:
    good1, good2 = ev(20, "panic", device_seq=3).to_dict(), ev(22, "heartbeat").to_dict()
    unknown_kind = {**ev(21, "heartbeat").to_dict(), "kind": "explosion"}
    other_gateway = ev(23, "heartbeat", gateway="gw-xicun-01").to_dict()
    no_time = {k: v for k, v in ev(24, "heartbeat").to_dict().items() if k != "at"}
    gateway.send_raw(json.dumps([good1, unknown_kind, good2, other_gateway, no_time]).encode())
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[20, 20], [22, 22]]}
    assert [r[0] for r in _rows(server)] == ["gw-dongcun-01:20", "gw-dongcun-01:22"]
    m = server.services.metrics
    assert m.get("events_rejected", "unknown_kind") == 1
    assert m.get("events_rejected", "wrong_gateway") == 1
    assert m.get("events_rejected", "missing_field") == 1
    assert m.get("events_rejected") == 3


def test_alarm_from_unknown_device_and_gateway_is_kept(server: Running, watcher: Watcher) -> None:
    stranger = FakeGateway(server.broker.url, "gw-unknown-9")
    try:
        stranger.send([ev(1, "panic", device="sn-ffff", gateway="gw-unknown-9", device_seq=4)])
        assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/gw-unknown-9/ack", {"seqs": [[1, 1]]})
        topic, alert = watcher.next("sw/v1/duty/")
    finally:
        stranger.close()
    assert topic == "sw/v1/duty/unassigned/alerts"
    assert alert["type"] == "case_opened"
    assert alert["device"] == {"id": "sn-ffff", "name": None, "model": None}
    assert (alert["station"], alert["region"], alert["location"]) == (None, {"path": [], "names": []}, None)


def test_gateway_status_is_recorded(server: Running, gateway: FakeGateway, watcher: Watcher) -> None:
    gateway.status(b'{"state":"offline","reason":"lwt"}')
    gateway.send([ev(1, "heartbeat")])  # same worker, so once this is acked the status is in
    watcher.next("sw/v1/gw/")
    from server.db.models import Gateway

    with server.services.db.read() as s:
        gw = s.get(Gateway, "gw-dongcun-01")
        assert gw is not None
        assert (gw.status, gw.status_data, gw.status_at) == ("offline", {"reason": "lwt"}, server.clock.now)


def test_broker_restart_then_ingest_resumes(server: Running, watcher: Watcher) -> None:
    server.broker.restart()
    link = server.client.app.state.link  # type: ignore[attr-defined]
    assert link.wait_connected(30)
    w2 = Watcher(server.broker.url, ["sw/v1/gw/+/ack"])
    gw = FakeGateway(server.broker.url)
    try:
        # The server's resubscription may land just after our publish; a gateway resends
        # unacked events, and so does this test.
        for _ in range(20):
            gw.send([ev(40, "heartbeat")])
            try:
                assert w2.next("sw/v1/gw/", timeout=1.0)[1] == {"seqs": [[40, 40]]}
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("no ack after the broker restart")
    finally:
        gw.close()
        w2.close()


def test_database_failure_sends_no_ack(db: object, tmp_path: object) -> None:
    from protocol.topics import Topics
    from server.db.engine import Database
    from server.ingest.mqtt import Inbound
    from server.ingest.worker import IngestWorker
    from server.metrics import Metrics

    assert isinstance(db, Database)

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes]] = []

        def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
            self.sent.append((topic, payload))

    rec, metrics = Recorder(), Metrics()
    worker = IngestWorker(db, rec, Topics(), metrics)
    payload = encode_events([ev(1, "panic", device_seq=2)])
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE case_events RENAME TO case_events_gone")
    assert worker.handle(Inbound("sw/v1/gw/gw-dongcun-01/events", payload, 0.0)) is None
    assert rec.sent == []
    assert metrics.get("ingest_errors") == 1
    with db.read() as s:  # the whole batch rolled back, not half of it
        assert s.scalar(select(func.count()).select_from(EventRow)) == 0
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE case_events_gone RENAME TO case_events")
    result = worker.handle(Inbound("sw/v1/gw/gw-dongcun-01/events", payload, 0.0))
    assert result is not None and result.new == ["gw-dongcun-01:1"]
    assert rec.sent[0] == ("sw/v1/gw/gw-dongcun-01/ack", encode_ack([1]))
