"""Duty alerts leave through a transactional outbox: written with the case change, sent until
the broker confirms, marked sent only then. A crash between commit and publish loses nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from server.crashpoints import CRASH_ENV, INGEST_COMMITTED
from server.db.engine import Database
from server.db.models import Case, EventRow, OutboxMessage
from shouwang.local_stack import ServerProcess
from shouwang.mosquitto import Mosquitto
from tests.server.srv_support import WAIT, FakeGateway, Running, Watcher, ev


def _outbox(db: Database) -> list[tuple[str, str, bool]]:
    with db.read() as s:
        return [
            (m.channel, m.target, m.sent_at is not None)
            for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def _eventually(check: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for something another thread does after what the test observed."""
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.05)


def test_alert_waits_in_the_outbox_until_the_broker_confirms(server: Running, watcher: Watcher) -> None:
    db = server.services.db
    gw = FakeGateway(server.broker.url)
    try:
        gw.send([ev(1, "panic", device_seq=3)])
        _, opened = watcher.next("sw/v1/duty/")
    finally:
        gw.close()
    relay = server.client.app.state.outbox_relay  # type: ignore[attr-defined]
    # Marked sent once the broker's PUBACK is in (the subscriber may hear it a moment before).
    _eventually(lambda: _outbox(db) == [("duty_alert", "c01/t03/v12/g4", True)], "the alert marked sent")

    server.broker.stop()
    link = server.client.app.state.link  # type: ignore[attr-defined]
    _eventually(lambda: not link.connected.is_set(), "the server to notice the broker stopped")
    watcher.close()
    resp = server.client.post(
        "/api/v1/cases/%d/actions" % opened["case"]["id"], headers=server.token(), json={"action": "accept"}
    )
    assert resp.status_code == 200  # the case changed; its alert is committed with it
    assert _outbox(db)[1] == ("duty_alert", "c01/t03/v12/g4", False)

    server.broker.start()
    assert link.wait_connected(60)
    w2 = Watcher(server.broker.url, ["sw/v1/duty/#"])
    try:
        # The writer's hold on the row runs out; the relay's next sweep sends it.
        server.clock.advance(11)
        topic, alert = w2.next("sw/v1/duty/", timeout=WAIT * 3)
    finally:
        w2.close()
    assert (topic, alert["type"], alert["case"]["state"]) == (
        "sw/v1/duty/c01/t03/v12/g4/alerts",
        "case_updated",
        "accepted",
    )
    _eventually(lambda: _outbox(db) == [("duty_alert", "c01/t03/v12/g4", True)] * 2, "both marked sent")
    assert relay.sweep() == 0  # nothing left to claim


def test_server_killed_between_commit_and_publish_still_alerts(
    db_url: str, broker: Mosquitto, seed_file: Path, tmp_path: Path
) -> None:
    alerts = Watcher(broker.url, ["sw/v1/duty/#", "sw/v1/gw/+/ack"])
    client_id = "shouwang-crash-%s" % uuid.uuid4().hex[:6]
    env = {"SHOUWANG_MQTT_CLIENT_ID": client_id}
    crash = {**env, CRASH_ENV: INGEST_COMMITTED}
    doomed = ServerProcess(tmp_path / "server", broker.url, seed=seed_file, db_url=db_url, env=crash)
    doomed.start()
    gw = FakeGateway(broker.url)
    try:
        gw.send([ev(1, "panic", device_seq=7, battery=80)])
        assert doomed.proc is not None
        assert doomed.proc.wait(WAIT * 3) == -9  # SIGKILL right after the commit
        assert alerts.drain() == []  # neither the ack nor the alert got out

        db = Database.open(db_url)
        try:
            with db.read() as s:
                assert [e.id for e in s.scalars(select(EventRow))] == ["gw-dongcun-01:1"]
                (case,) = s.scalars(select(Case)).all()
            assert _outbox(db) == [("duty_alert", "c01/t03/v12/g4", False)]

            again = ServerProcess(tmp_path / "server", broker.url, seed=seed_file, db_url=db_url, env=env)
            again.start()
            try:
                topic, alert = alerts.next("sw/v1/duty/", timeout=WAIT * 3)
                assert (topic, alert["type"], alert["case"]["id"], alert["event"]["device_seq"]) == (
                    "sw/v1/duty/c01/t03/v12/g4/alerts",
                    "case_opened",
                    case.id,
                    7,
                )
                # The gateway never got its ack: its resend is a duplicate, acked, no second case.
                gw.send([ev(1, "panic", device_seq=7, battery=80)])
                assert alerts.next("sw/v1/gw/") == ("sw/v1/gw/gw-dongcun-01/ack", {"seqs": [[1, 1]]})
                _eventually(lambda: _outbox(db) == [("duty_alert", "c01/t03/v12/g4", True)], "marked sent")
            finally:
                again.stop()
            with db.read() as s:
                assert len(s.scalars(select(Case)).all()) == 1
        finally:
            db.close()
    finally:
        gw.close()
        alerts.close()
        doomed.stop()
