"""An alarm panel is registered and placed like any device; its AES key is write-only and its
zones can be named (PUT /api/v1/devices/sia-<account>)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from protocol.dc09 import encode_message
from server.db.models import CommandRow
from server.sia.receiver import PanelReceiver
from tests.server.srv_support import Running

KEY = "000102030405060708090A0B0C0D0E0F"


def test_panel_key_is_write_only_and_zones_are_named(server: Running) -> None:
    c, admin = server.client, server.token("admin", "Admin-Password-2026")
    body = {
        "model": "sia-panel",
        "name": "东村小卖部 报警主机",
        "region": "c01/t03/v12/g4",
        "key": KEY,
        "zones": {"005": "后门", "57": "店主"},
    }
    saved = c.put("/api/v1/devices/sia-4f39", headers=admin, json=body)
    assert saved.status_code == 200, saved.text
    expected = {
        "id": "sia-4f39",
        "gateway": None,
        "model": "sia-panel",
        "name": "东村小卖部 报警主机",
        "region": "c01/t03/v12/g4",
        "region_override": "c01/t03/v12/g4",
        "lat": None,
        "lon": None,
        "address": None,
        "holder_contact": None,
        "key_set": True,
        "zones": {"5": "后门", "57": "店主"},
    }
    assert saved.json() == expected
    assert c.get("/api/v1/devices/sia-4f39", headers=admin).json() == expected
    listed = c.get("/api/v1/devices", headers=server.token("duty-t03"), params={"model": "sia-panel"}).json()
    assert listed["items"] == [expected]
    assert KEY.lower() not in c.get("/api/v1/devices/sia-4f39", headers=admin).text.lower()
    # Fields left out stay; null removes the key.
    renamed = c.put("/api/v1/devices/sia-4f39", headers=admin, json={"name": "小卖部"}).json()
    assert (renamed["name"], renamed["key_set"]) == ("小卖部", True)
    removed = c.put("/api/v1/devices/sia-4f39", headers=admin, json={"key": None}).json()
    assert removed["key_set"] is False


def test_panel_fields_are_checked(server: Running) -> None:
    c, admin = server.client, server.token("admin", "Admin-Password-2026")
    for body in ({"key": "00" * 15}, {"key": "zz" * 16}, {"key": "00" * 20}, {"zones": {"front": "前门"}},
                 {"zones": {"12345": "x"}}, {"zones": {"1": ""}}):
        resp = c.put("/api/v1/devices/sia-4f39", headers=admin, json=body)
        assert resp.status_code == 422, (body, resp.text)
    not_panel = c.put("/api/v1/devices/sn-00a3", headers=admin, json={"key": KEY})
    assert (not_panel.status_code, not_panel.json()["reason"]) == (422, "not_a_panel")
    duty = c.put("/api/v1/devices/sia-4f39", headers=server.token("duty-t03"), json={"key": KEY})
    assert duty.status_code == 403


def test_the_receiver_uses_the_key_and_zone_names_saved_through_the_api(server: Running) -> None:
    c, admin = server.client, server.token("admin", "Admin-Password-2026")
    c.put("/api/v1/devices/sia-4f39", headers=admin,
          json={"model": "sia-panel", "region": "c01/t03/v12/g4", "key": KEY, "zones": {"5": "后门"}})
    services = c.app.state.services  # type: ignore[attr-defined]
    now = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
    server.clock.now = now
    rx = PanelReceiver(services.db, services.publisher, services.topics, services.metrics, server.clock)
    answer = rx.handle(encode_message("ADM-CID", 9, "4F39", "1130 01 005", timestamp=now,
                                      key=bytes.fromhex(KEY)))
    assert answer[9:].startswith(b'"*ACK"0009L0#4F39[')
    events = c.get("/api/v1/events", headers=admin, params={"device": "sia-4f39"}).json()["items"]
    assert [(e["kind"], e["data"]["zone"], e["data"]["zone_name"]) for e in events] == [
        ("intrusion", "005", "后门")]
    # A panel has no gateway: accepting and closing its case sends no command anywhere.
    (case,) = c.get("/api/v1/cases", headers=admin, params={"device": "sia-4f39"}).json()["items"]
    for action in ("accept", "close"):
        done = c.post("/api/v1/cases/%d/actions" % case["id"], headers=admin, json={"action": action})
        assert done.status_code == 200, done.text
    with services.db.read() as s:
        assert s.scalars(select(CommandRow).where(CommandRow.case_id == case["id"])).all() == []
