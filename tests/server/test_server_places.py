"""Regions (GeoJSON import, point in polygon), stations, gateways, devices, users over REST."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.cli import main
from server.errors import Invalid
from server.geo import contains
from tests.server.srv_support import FakeGateway, Running, Watcher, ev

SQ = {
    "type": "Polygon",
    "coordinates": [
        [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]],
        [[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]],
    ],
}


def test_point_in_polygon() -> None:
    assert contains(SQ, 1, 1) and contains(SQ, 9.9, 5)
    assert not contains(SQ, 5, 5)  # in the hole
    assert not contains(SQ, 11, 1) and not contains(SQ, -0.1, 5)
    multi = {
        "type": "MultiPolygon",
        "coordinates": [SQ["coordinates"], [[[20, 20], [21, 20], [21, 21], [20, 20]]]],
    }
    assert contains(multi, 20.8, 20.2) and not contains(multi, 20.2, 20.8)
    for bad in (
        {"type": "Point", "coordinates": [1, 2]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
    ):
        with pytest.raises(Invalid):
            contains(bad, 0, 0)


GRIDS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"path": "c02/t01/v01/g2", "name": "二网格", "level": "grid"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[110, 30], [110.5, 30], [110.5, 30.5], [110, 30.5], [110, 30]]],
            },
        },
        {"type": "Feature", "properties": {"path": "c02", "name": "南县"}, "geometry": None},
        {"type": "Feature", "properties": {"path": "c02/t01", "name": "一镇"}, "geometry": None},
        {
            "type": "Feature",
            "properties": {"path": "c02/t01/v01", "name": "一村", "level": "village"},
            "geometry": None,
        },
    ],
}


def _admin(server: Running) -> dict[str, str]:
    return server.token("admin", "Admin-Password-2026")


def test_import_regions_and_locate(server: Running) -> None:
    c, h = server.client, _admin(server)
    resp = c.post("/api/v1/regions/import", headers=h, json=GRIDS)
    assert resp.status_code == 200, resp.text
    assert [(r["path"], r["level"], r["parent"]) for r in resp.json()] == [
        ("c02", "county", None),
        ("c02/t01", "township", "c02"),
        ("c02/t01/v01", "village", "c02/t01"),
        ("c02/t01/v01/g2", "grid", "c02/t01/v01"),
    ]
    got = c.get("/api/v1/regions/locate?lat=30.2&lon=110.2", headers=h).json()
    assert (got["path"], got["name"]) == ("c02/t01/v01/g2", "二网格")
    assert c.get("/api/v1/regions/locate?lat=1&lon=1", headers=h).status_code == 404
    kids = c.get("/api/v1/regions?parent=c01", headers=h).json()
    assert [r["path"] for r in kids["items"]] == ["c01/t03", "c01/t05"]
    # Scoped users see their subtree only.
    t03 = c.get("/api/v1/regions", headers=server.token("duty-t03")).json()
    assert [r["path"] for r in t03["items"]] == ["c01/t03", "c01/t03/v12", "c01/t03/v12/g4"]
    bad = c.post("/api/v1/regions", headers=h, json={"path": "c02/t01/v01/g2/x", "name": "深"})
    assert (bad.status_code, bad.json()["reason"]) == (422, "bad_region")
    wrong_level = c.post("/api/v1/regions", headers=h, json={"path": "c02/t09", "name": "x", "level": "grid"})
    assert wrong_level.status_code == 422
    orphan = c.post("/api/v1/regions", headers=h, json={"path": "c09/t01", "name": "x"})
    assert (orphan.status_code, orphan.json()["reason"]) == (422, "unknown_region")


def test_import_regions_cli(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(GRIDS, ensure_ascii=False), encoding="utf-8")
    assert main(["import-regions", str(path), "--db", db_url]) == 0
    path.write_text('{"type": "FeatureCollection", "features": [{"properties": {}}]}')
    assert main(["import-regions", str(path), "--db", db_url]) == 2


def test_devices_and_stations_are_placed_by_polygon(server: Running, watcher: Watcher) -> None:
    c, h = server.client, _admin(server)
    assert c.post("/api/v1/regions/import", headers=h, json=GRIDS).status_code == 200
    st = c.put("/api/v1/stations/st-nan", headers=h, json={"name": "南站", "lat": 30.1, "lon": 110.1})
    assert (st.status_code, st.json()["region"]) == (200, "c02/t01/v01/g2")
    gw = c.put("/api/v1/gateways/gw-nan-01", headers=h, json={"station": "st-nan"})
    assert gw.json() == {
        "id": "gw-nan-01",
        "station": "st-nan",
        "status": None,
        "status_at": None,
        "has_credentials": False,
        "reused_seqs": 0,
        "reused_seq_at": None,
    }
    # A device of the 东村 gateway that actually hangs on a wall inside 南县's grid.
    dev = c.put(
        "/api/v1/devices/sn-0c01",
        headers=h,
        json={
            "gateway": "gw-dongcun-01",
            "model": "sw-panic-button",
            "name": "移动按钮",
            "lat": 30.3,
            "lon": 110.3,
            "holder_contact": {"name": "赵", "phone": "139"},
        },
    )
    assert dev.status_code == 200, dev.text
    assert (dev.json()["region"], dev.json()["region_override"]) == ("c02/t01/v01/g2", None)
    over = c.put("/api/v1/devices/sn-0c01", headers=h, json={"region": "c01/t05/v01/g1"})
    assert (over.json()["region"], over.json()["region_override"], over.json()["name"]) == (
        "c01/t05/v01/g1",
        "c01/t05/v01/g1",
        "移动按钮",
    )
    fg = FakeGateway(server.broker.url)
    try:
        fg.send([ev(1, "panic", device="sn-0c01")])
        topic, _ = watcher.next("sw/v1/duty/")
    finally:
        fg.close()
    assert topic == "sw/v1/duty/c01/t05/v01/g1/alerts"
    bad_model = c.put("/api/v1/devices/sn-0c02", headers=h, json={"model": "toaster"})
    assert (bad_model.status_code, bad_model.json()["reason"]) == (422, "unknown_model")
    bad_id = c.put("/api/v1/devices/not-a-device", headers=h, json={})
    assert (bad_id.status_code, bad_id.json()["reason"]) == (422, "bad_device_id")


def test_device_reads_are_scoped_and_contact_is_guarded(server: Running) -> None:
    c, h = server.client, _admin(server)
    c.put("/api/v1/devices/sn-00a3", headers=h, json={"holder_contact": {"name": "王小明", "phone": "138"}})
    t03 = c.get("/api/v1/devices", headers=server.token("duty-t03")).json()
    assert [d["id"] for d in t03["items"]] == ["sn-00a3", "sn-00a4"]
    assert all(d["holder_contact"] is None for d in t03["items"])  # never in lists
    one = c.get("/api/v1/devices/sn-00a3", headers=server.token("duty-t03")).json()
    assert one["holder_contact"] == {"name": "王小明", "phone": "138"}
    viewer = c.get("/api/v1/devices/sn-00a3", headers=server.token("viewer-t03")).json()
    assert viewer["holder_contact"] is None
    assert c.get("/api/v1/devices/sn-0b01", headers=server.token("duty-t03")).status_code == 404
    assert (
        c.get("/api/v1/stations", headers=server.token("duty-t05")).json()["items"][0]["code"] == "st-xicun"
    )
    assert c.get("/api/v1/gateways/gw-dongcun-01", headers=server.token("duty-t05")).status_code == 404
    denied = c.put("/api/v1/devices/sn-00a3", headers=server.token("duty-t03"), json={"name": "x"})
    assert denied.status_code == 403


def test_users_are_managed_within_the_admins_subtree(server: Running) -> None:
    c, h = server.client, _admin(server)
    made = c.post(
        "/api/v1/users",
        headers=h,
        json={"username": "admin-t05", "password": "Long-Pass-2026!", "role": "admin", "region": "c01/t05"},
    )
    assert made.status_code == 201, made.text
    t05 = server.token("admin-t05", "Long-Pass-2026!")
    inside = c.post(
        "/api/v1/users",
        headers=t05,
        json={
            "username": "grid-g1",
            "password": "Another-Pass-77",
            "role": "grid_worker",
            "region": "c01/t05/v01/g1",
        },
    )
    outside = c.post(
        "/api/v1/users",
        headers=t05,
        json={
            "username": "grid-g4",
            "password": "Another-Pass-77",
            "role": "grid_worker",
            "region": "c01/t03",
        },
    )
    weak = c.post(
        "/api/v1/users", headers=h, json={"username": "x1", "password": "changeme", "role": "viewer"}
    )
    assert (inside.status_code, outside.status_code, weak.status_code) == (201, 422, 422)
    names = [u["username"] for u in c.get("/api/v1/users", headers=t05).json()["items"]]
    assert names == ["admin-t05", "duty-t05", "grid-g1"]
    assert c.get("/api/v1/users", headers=server.token("duty-c01")).status_code == 403


def test_openapi_lists_every_resource(server: Running) -> None:
    spec = server.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for name in ("regions", "stations", "gateways", "devices", "events", "cases", "users", "auth/token"):
        assert any(p.startswith("/api/v1/" + name) for p in paths), name
    assert "example" in json.dumps(spec["components"]["schemas"]["DeviceIn"])
