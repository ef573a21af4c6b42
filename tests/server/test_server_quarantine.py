"""One gateway cannot speak for another: events for a device registered to a different
gateway are quarantined (kept, counted, shown to admins), never turned into a case, and a
``panic_cancel`` counts only from the device's own gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from server.data.users import ensure_user
from server.db.models import Case, EventRow, QuarantinedEvent, Region
from tests.server.srv_support import PASSWORD, T0, FakeGateway, Running, Watcher, ev

HOME, OTHER, STRANGER = "gw-dongcun-01", "gw-xicun-01", "gw-unknown-9"


@pytest.fixture
def gateways(server: Running) -> Iterator[dict[str, FakeGateway]]:
    gws = {gw: FakeGateway(server.broker.url, gw) for gw in (HOME, OTHER, STRANGER)}
    yield gws
    for gw in gws.values():
        gw.close()


def _cases(server: Running) -> list[tuple[str, str | None, str, str]]:
    with server.services.db.read() as s:
        return [
            (c.device_id, c.gateway_id, c.alarm_class, c.state)
            for c in s.scalars(select(Case).order_by(Case.id))
        ]


def test_events_for_another_gateways_device_are_quarantined(
    server: Running, watcher: Watcher, gateways: dict[str, FakeGateway]
) -> None:
    # gw-xicun-01 speaks for sn-00a3, registered to gw-dongcun-01: a panic and a fire.
    foreign = [ev(1, "panic", gateway=OTHER, device_seq=9), ev(2, "fire", gateway=OTHER, device_seq=10)]
    gateways[OTHER].send(foreign)
    assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/%s/ack" % OTHER, {"seqs": [[1, 2]]})
    gateways[OTHER].send(foreign)  # a resend is not quarantined twice
    assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/%s/ack" % OTHER, {"seqs": [[1, 2]]})
    assert _cases(server) == []
    with server.services.db.read() as s:
        assert s.scalars(select(EventRow)).all() == []
        rows = [
            (q.event_id, q.gateway_id, q.device_id, q.device_gateway_id, q.kind, q.priority, q.device_seq,
             q.region_path, q.gateway_region_path, q.received_at)
            for q in s.scalars(select(QuarantinedEvent).order_by(QuarantinedEvent.id))
        ]
    assert rows == [
        ("%s:1" % OTHER, OTHER, "sn-00a3", HOME, "panic", "alarm", 9, "c01/t03/v12/g4", "c01/t05/v01/g1", T0),
        ("%s:2" % OTHER, OTHER, "sn-00a3", HOME, "fire", "alarm", 10, "c01/t03/v12/g4", "c01/t05/v01/g1", T0),
    ]
    m = server.services.metrics
    assert (m.get("events_quarantined"), m.get("events_duplicate"), m.get("events_ingested")) == (2, 2, 0)
    assert watcher.drain() == []  # no duty alert for any of it


def test_cancel_counts_only_from_the_devices_own_gateway(
    server: Running, watcher: Watcher, gateways: dict[str, FakeGateway]
) -> None:
    gateways[HOME].send([ev(1, "panic", device_seq=1)])
    watcher.next("sw/v1/gw/")
    # Another station's gateway takes it back within the grace period: quarantined.
    gateways[OTHER].send([ev(1, "panic_cancel", gateway=OTHER, device_seq=2)])
    assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/%s/ack" % OTHER, {"seqs": [[1, 1]]})
    # An unregistered device's alarm, cancelled by a gateway other than the one that raised it:
    # stored and attached, but the case stays open.
    gateways[STRANGER].send([ev(1, "panic", device="sn-ffff", gateway=STRANGER)])
    watcher.next("sw/v1/gw/")
    gateways[OTHER].send([ev(2, "panic_cancel", device="sn-ffff", gateway=OTHER)])
    watcher.next("sw/v1/gw/")
    assert _cases(server) == [("sn-00a3", HOME, "panic", "new"), ("sn-ffff", STRANGER, "panic", "new")]
    # The device's own gateway may take it back.
    gateways[HOME].send([ev(2, "panic_cancel", device_seq=3)])
    watcher.next("sw/v1/gw/")
    gateways[STRANGER].send([ev(2, "panic_cancel", device="sn-ffff", gateway=STRANGER)])
    watcher.next("sw/v1/gw/")
    assert _cases(server) == [("sn-00a3", HOME, "panic", "closed"), ("sn-ffff", STRANGER, "panic", "closed")]
    with server.services.db.read() as s:
        quarantined = [q.event_id for q in s.scalars(select(QuarantinedEvent))]
    assert quarantined == ["%s:1" % OTHER]


def test_admin_view_of_quarantine_and_dead_letters(
    server: Running, watcher: Watcher, gateways: dict[str, FakeGateway]
) -> None:
    gateways[OTHER].send([ev(1, "panic", gateway=OTHER, device_seq=9, battery=50)])
    watcher.next("sw/v1/gw/")
    gateways[HOME].send_raw(b"\xff not json")
    gateways[HOME].send([ev(1, "heartbeat")])
    watcher.next("sw/v1/gw/%s/ack" % HOME)
    with server.services.db.write() as s:
        for name, path in (("admin-t03", "c01/t03"), ("admin-t05", "c01/t05"), ("admin-v01", "c01/t05/v01")):
            region = s.scalars(select(Region).where(Region.path == path)).one()
            ensure_user(s, name, PASSWORD, "admin", region, T0)
    c = server.client

    def ids(user: str, what: str) -> list[str]:
        resp = c.get("/api/v1/%s" % what, headers=server.token(user, PASSWORD))
        assert resp.status_code == 200, resp.text
        return [str(item["id"]) for item in resp.json()["items"]]

    # The device's region and the sending gateway's region both see it; nobody else does.
    assert ids("admin-t03", "quarantine") == ids("admin-t05", "quarantine") == ["%s:1" % OTHER]
    assert ids("admin-v01", "quarantine") == ["%s:1" % OTHER]
    resp = c.get("/api/v1/quarantine", headers=server.token("admin-t03", PASSWORD))
    assert resp.json() == {
        "items": [
            {
                "id": "%s:1" % OTHER,
                "gateway": OTHER,
                "device": "sn-00a3",
                "device_gateway": HOME,
                "kind": "panic",
                "priority": "alarm",
                "at": "2026-11-23T08:00:00.301000Z",
                "received_at": "2026-11-23T08:00:00.301000Z",
                "device_seq": 9,
                "data": {"battery": 50},
                "region_path": "c01/t03/v12/g4",
                "gateway_region_path": "c01/t05/v01/g1",
            }
        ],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }
    letters = c.get("/api/v1/dead-letters", headers=server.token("admin", "Admin-Password-2026")).json()
    assert [(d["gateway"], d["reason"], d["size"], d["count"], d["preview"]) for d in letters["items"]] == [
        (HOME, "bad_json", 10, 1, "\ufffd not json")
    ]
    assert ids("admin-t03", "dead-letters") != [] and ids("admin-t05", "dead-letters") == []
    # Ordinary roles get nothing, whatever their region.
    for user in ("duty-c01", "viewer-t03"):
        for what in ("quarantine", "dead-letters"):
            resp = c.get("/api/v1/%s" % what, headers=server.token(user))
            assert (resp.status_code, resp.json()["reason"]) == (403, "forbidden")
