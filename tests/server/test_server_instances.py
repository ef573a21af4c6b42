"""Two server instances on one PostgreSQL behind one shared subscription."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.app import create_app
from server.db.models import Case, EventRow
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from tests.server.srv_support import FakeClock, FakeGateway, TestClient, Watcher, ev

SECRET = "instances-secret-3c9d1e7a5b2f4a6c8e0d2b4f6a8c0e1d"


# Several instances need PostgreSQL (row locks, SKIP LOCKED): this test has no SQLite half.
@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_two_instances_share_the_load_and_store_each_event_once(
    db_url: str, broker: Mosquitto, seed_file: Path, watcher: Watcher
) -> None:
    apps = [
        create_app(
            Settings(
                db_url=db_url,
                mqtt_url=broker.url,
                secret=SECRET,
                seed_file=seed_file,
                mqtt_client_id="shouwang-%d-%s" % (i, uuid.uuid4().hex[:6]),
                deadline_interval=0,
            ),
            clock=FakeClock(),
        )
        for i in range(2)
    ]
    with TestClient(apps[0]), TestClient(apps[1]):
        for app in apps:
            assert app.state.link.wait_connected(10)
        gw = FakeGateway(broker.url)
        try:
            for seq in range(1, 21):
                # The same device keeps alarming: whichever instance gets it, one case.
                gw.send([ev(seq, "panic", device_seq=seq)])
            acked = sorted(watcher.next("sw/v1/gw/")[1]["seqs"][0][0] for _ in range(20))
        finally:
            gw.close()
        per_instance = [app.state.services.metrics.get("events_ingested") for app in apps]
        with apps[0].state.services.db.read() as s:
            assert s.scalar(select(func.count()).select_from(EventRow)) == 20
            assert [c.event_count for c in s.scalars(select(Case))] == [20]
    assert acked == list(range(1, 21))
    assert sum(per_instance) == 20 and all(n > 0 for n in per_instance)
