"""What survives a server restart: the gateways' resends fill the gap, and deadline state lives on."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from gateway.daemon import Gateway
from gateway.outbox import Incoming
from protocol.kinds import Kind
from server.app import create_app
from server.db.engine import Database
from server.db.models import EventRow
from server.deadlines import Escalator
from server.ingest.store import store_events
from server.settings import Deadlines, Settings
from shouwang.mosquitto import Mosquitto
from tests.gateway.gw_support import settings as gateway_settings
from tests.gateway.gw_support import wait_for
from tests.server.srv_support import T0, FakeClock, FakeGateway, TestClient, Watcher, ev

SECRET = "restart-secret-5b1e0c4f9a8d7e6f5a4b3c2d1e0f9a8b"


def test_events_sent_while_the_server_is_down_are_stored_when_it_returns(
    db_url: str, broker: Mosquitto, seed_file: Path, tmp_path: Path
) -> None:
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        seed_file=seed_file,
        mqtt_client_id="shouwang-restart-%s" % uuid.uuid4().hex[:6],
        deadline_interval=0,
    )
    app = create_app(settings, clock=FakeClock())
    with TestClient(app):
        assert app.state.link.wait_connected(10)
    # Server gone. The broker keeps its session only a few seconds and the returning server
    # starts clean, so what arrives meanwhile is not waiting at the broker: the gateway keeps
    # it in its outbox and resends it until the server acks.
    gw = Gateway(gateway_settings(tmp_path, broker.url, gateway="gw-dongcun-01", resend_after_s=0.5))
    gw.start()
    try:
        assert gw.uplink is not None and gw.uplink.connected.wait(10)
        assert gw.writer is not None and gw.outbox is not None
        gw.writer.submit(Incoming("sn-00a3", Kind.PANIC, T0, device_seq=5))
        gw.writer.submit(Incoming("sn-00a3", Kind.HEARTBEAT, T0))
        wait_for(lambda: gw.counters.get("sent") >= 2, what="the batch to leave the gateway")
        app2 = create_app(settings, clock=FakeClock())
        with TestClient(app2):
            outbox = gw.outbox
            wait_for(lambda: outbox.backlog == 0, what="the server's ack")
            assert app2.state.services.metrics.get("events_ingested") == 2
            with app2.state.services.db.read() as s:
                assert sorted(s.scalars(select(EventRow.kind))) == ["heartbeat", "panic"]
    finally:
        gw.stop()


def test_deadline_state_survives_a_restart(db: Database, db_url: str) -> None:
    with db.write() as s:
        store_events(s, [ev(1, "panic")], T0)
    first = Escalator(db, lambda: T0, Deadlines())
    assert [a.payload["type"] for a in first.tick(T0 + timedelta(seconds=50))] == ["case_updated"]
    db.close()
    again = Database.open(db_url)  # a new process, as far as the database can tell
    try:
        second = Escalator(again, lambda: T0, Deadlines())
        assert second.tick(T0 + timedelta(seconds=55)) == []  # the yellow step is not repeated
        (alert,) = second.tick(T0 + timedelta(seconds=61))
        assert (alert.payload["type"], alert.payload["case"]["escalation_level"]) == ("case_escalated", 1)
    finally:
        again.close()


def test_server_starts_without_the_broker_and_connects_when_it_appears(
    db_url: str, broker: Mosquitto, seed_file: Path
) -> None:
    broker.stop()
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        seed_file=seed_file,
        mqtt_client_id="shouwang-late-%s" % uuid.uuid4().hex[:6],
        deadline_interval=0,
    )
    app = create_app(settings, clock=FakeClock())
    with TestClient(app) as client:
        # REST serves while the broker is away, and says so.
        assert client.get("/healthz").json()["mqtt"] is False
        broker.start()
        assert app.state.link.wait_connected(60)
        watcher = Watcher(broker.url, ["sw/v1/gw/+/ack"])
        gw = FakeGateway(broker.url)
        try:
            gw.send([ev(3, "panic")])
            assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/gw-dongcun-01/ack", {"seqs": [[3, 3]]})
        finally:
            gw.close()
            watcher.close()
        assert client.get("/healthz").json()["mqtt"] is True
