"""Hostile input over HTTP: every out-of-range id, offset, time and string answers 422 in the
one error shape, on SQLite and PostgreSQL, before any query runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.srv_support import FakeGateway, Running, Watcher, ev

ADMIN = ("admin", "Admin-Password-2026")
ONE_LINE = "String should match pattern '^[^\\x00-\\x1f\\x7f]*$'"


def invalid(detail: str) -> dict[str, str]:
    return {"detail": detail, "reason": "invalid_input"}


def _case(server: Running, watcher: Watcher) -> int:
    gw = FakeGateway(server.broker.url)
    try:
        gw.send([ev(1, "panic", device_seq=1)])
        watcher.next("sw/v1/gw/gw-dongcun-01/ack")
    finally:
        gw.close()
    cases = server.client.get("/api/v1/cases", headers=server.token(*ADMIN)).json()["items"]
    return int(cases[0]["id"])


LISTS = [
    "/api/v1/sign-ins",
    "/api/v1/broker-accounts",
    "/api/v1/regions",
    "/api/v1/stations",
    "/api/v1/gateways",
    "/api/v1/devices",
    "/api/v1/users",
    "/api/v1/cases",
    "/api/v1/events",
]


def test_offsets_and_ids_beyond_32_bits(server: Running) -> None:
    c, h = server.client, server.token(*ADMIN)
    for path in LISTS:
        resp = c.get(path, params={"offset": 2**63}, headers=h)
        assert (resp.status_code, resp.json()) == (
            422,
            invalid("query.offset: Input should be less than or equal to 2147483647"),
        ), path
        assert c.get(path, params={"offset": 2**31 - 1}, headers=h).json()["items"] == [], path
    for path, name in [("/api/v1/cases/%s", "case_id"), ("/api/v1/regions/%s", "region_id")]:
        huge = c.get(path % "99999999999999999999", headers=h)
        assert (huge.status_code, huge.json()) == (
            422,
            invalid("path.%s: Input should be less than or equal to 2147483647" % name),
        )
        zero = c.get(path % "0", headers=h)
        assert (zero.status_code, zero.json()) == (
            422,
            invalid("path.%s: Input should be greater than or equal to 1" % name),
        )
        assert c.get(path % str(2**31 - 1), headers=h).status_code == 404


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (
            {"since": "9999-12-31T23:59:59-23:59"},
            "query.since: Value error, time is out of range once converted to UTC",
        ),
        (
            {"until": "0001-01-01T00:00:00+23:59"},
            "query.until: Value error, time is out of range once converted to UTC",
        ),
    ],
)
def test_times_that_overflow_in_utc(server: Running, query: dict[str, str], detail: str) -> None:
    c, h = server.client, server.token(*ADMIN)
    resp = c.get("/api/v1/events", params=query, headers=h)
    assert (resp.status_code, resp.json()) == (422, invalid(detail))
    period = {"since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z", **query}
    stats = c.get("/api/v1/stats", params=period, headers=h)
    assert (stats.status_code, stats.json()) == (422, invalid(detail))
    # The same instants inside the range are fine, with or without a zone.
    ok = c.get(
        "/api/v1/events", params={"since": "9999-12-30T00:00:00-23:59", "until": "2026-01-01"}, headers=h
    )
    assert (ok.status_code, ok.json()["total"]) == (200, 0)


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/cases?device=sn-00a3%00", "query.device: " + ONE_LINE),
        ("/api/v1/events?kind=panic%00", "query.kind: " + ONE_LINE),
        ("/api/v1/regions?parent=c01%00", "query.parent: " + ONE_LINE),
        ("/api/v1/devices?region=c01%0A", "query.region: " + ONE_LINE),
        ("/api/v1/stations/st-dongcun%00", "path.code: " + ONE_LINE),
        ("/api/v1/gateways/gw%00", "path.gateway_id: " + ONE_LINE),
        ("/api/v1/devices/%00", "path.device_id: " + ONE_LINE),
        ("/api/v1/commands/%00", "path.command_id: " + ONE_LINE),
        ("/api/v1/sign-ins?username=admin%00", "query.username: " + ONE_LINE),
    ],
)
def test_nul_and_control_characters_in_queries(server: Running, path: str, detail: str) -> None:
    resp = server.client.get(path, headers=server.token(*ADMIN))
    assert (resp.status_code, resp.json()) == (422, invalid(detail))


def test_nul_in_a_broker_account_name(server: Running) -> None:
    resp = server.client.delete("/api/v1/broker-accounts/duty.c01%00", headers=server.token(*ADMIN))
    assert (resp.status_code, resp.json()) == (422, invalid("path.username: " + ONE_LINE))
    duty = server.client.post(
        "/api/v1/broker-accounts/duty", headers=server.token(*ADMIN), json={"region": "c01\x00"}
    )
    assert (duty.status_code, duty.json()) == (422, invalid("body.region: " + ONE_LINE))


def test_nul_in_a_sign_in(server: Running) -> None:
    resp = server.client.post("/api/v1/auth/token", data={"username": "admin\x00", "password": "x" * 12})
    assert (resp.status_code, resp.json()) == (
        422,
        {"detail": "username or password is too long or holds control characters", "reason": "bad_form"},
    )


def test_assignee_of_100000_characters(server: Running, watcher: Watcher) -> None:
    case_id = _case(server, watcher)
    c, h = server.client, server.token("duty-t03")
    url = "/api/v1/cases/%d/actions" % case_id
    assert c.post(url, headers=h, json={"action": "accept"}).status_code == 200
    resp = c.post(url, headers=h, json={"action": "dispatch", "assignee": "张" * 100_000})
    assert (resp.status_code, resp.json()) == (
        422,
        invalid("body.assignee: String should have at most 64 characters"),
    )
    case = c.get("/api/v1/cases/%d" % case_id, headers=h).json()
    assert (case["state"], case["assignee"], [a["action"] for a in case["actions"]]) == (
        "accepted",
        None,
        ["open", "accept"],
    )
    ok = c.post(url, headers=h, json={"action": "dispatch", "assignee": "网格员" * 21})
    assert (ok.status_code, ok.json()["assignee"]) == (200, "网格员" * 21)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"action": "comment", "note": "x" * 2001}, "body.note: String should have at most 2000 characters"),
        (
            {"action": "comment", "note": "a\x00b"},
            "body.note: String should match pattern '^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$'",
        ),
        (
            b'{"action": "comment", "note": "\\ud800"}',  # a lone surrogate: not text
            "body.note: Input should be a valid string, unable to parse raw data as a unicode string",
        ),
        ({"action": "x" * 33}, "body.action: String should have at most 32 characters"),
        (
            {"action": "evaluate", "satisfaction": 10**30},
            "body.satisfaction: Input should be less than or equal to 5",
        ),
        (
            {"action": "extend", "seconds": 1e308},
            "body.seconds: Input should be less than or equal to 2592000",
        ),
        ({"action": "transfer", "region": "c01\x00"}, "body.region: " + ONE_LINE),
        ({"note": "no action"}, "body.action: Field required"),
    ],
)
def test_action_bodies_are_bounded(
    server: Running, watcher: Watcher, body: dict[str, Any] | bytes, detail: str
) -> None:
    case_id = _case(server, watcher)
    url, h = "/api/v1/cases/%d/actions" % case_id, server.token("duty-t03")
    if isinstance(body, bytes):
        resp = server.client.post(url, headers={**h, "Content-Type": "application/json"}, content=body)
    else:
        resp = server.client.post(url, headers=h, json=body)
    assert (resp.status_code, resp.json()) == (422, invalid(detail))


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (
            "/api/v1/stations/st-x",
            {"name": "站" * 201},
            "body.name: String should have at most 200 characters",
        ),
        (
            "/api/v1/stations/st-x",
            {"name": "x", "lat": 91, "lon": 0},
            "body.lat: Input should be less than or equal to 90",
        ),
        (
            "/api/v1/stations/" + "s" * 65,
            {"name": "x"},
            "path.code: String should have at most 64 characters",
        ),
        ("/api/v1/gateways/gw-x", {"station": "st\x00"}, "body.station: " + ONE_LINE),
        (
            "/api/v1/devices/sn-0001",
            {"address": "址" * 401},
            "body.address: String should have at most 400 characters",
        ),
        (
            "/api/v1/devices/sn-0001",
            {"holder_contact": {"k%d" % i: "v" for i in range(11)}},
            "body.holder_contact: Dictionary should have at most 10 items after validation, not more",
        ),
        (
            "/api/v1/devices/sn-0001",
            {"holder_contact": {"phone": {"nested": True}}},
            "body.holder_contact.phone: Input should be a valid string",
        ),
    ],
)
def test_place_bodies_are_bounded(server: Running, path: str, body: dict[str, Any], detail: str) -> None:
    resp = server.client.put(path, headers=server.token(*ADMIN), json=body)
    assert (resp.status_code, resp.json()) == (422, invalid(detail))


def test_region_bodies_are_bounded(server: Running) -> None:
    c, h = server.client, server.token(*ADMIN)
    long_name = c.post("/api/v1/regions", headers=h, json={"path": "c01/t09", "name": "镇" * 201})
    assert (long_name.status_code, long_name.json()) == (
        422,
        invalid("body.name: String should have at most 200 characters"),
    )
    feature = {"type": "Feature", "properties": {"path": "c09", "name": "县" * 201}, "geometry": None}
    imported = c.post(
        "/api/v1/regions/import", headers=h, json={"type": "FeatureCollection", "features": [feature]}
    )
    assert (imported.status_code, imported.json()) == (
        422,
        {"detail": "a region name is one line of at most 200 characters", "reason": "bad_region"},
    )
    for props, detail in [
        ({"path": "c" * 401, "name": "县"}, "a region path has at most 400 characters"),
        (
            {"path": "c09", "name": "县", "level": "x" * 100_000},
            "a region level is one of county, township, village, grid",
        ),
    ]:
        feature = {"type": "Feature", "properties": props, "geometry": None}
        resp = c.post(
            "/api/v1/regions/import", headers=h, json={"type": "FeatureCollection", "features": [feature]}
        )
        assert (resp.status_code, resp.json()) == (422, {"detail": detail, "reason": "bad_region"})
    huge = {"type": "Polygon", "coordinates": [[[10**400, 0], [1, 0], [1, 1], [10**400, 0]]]}
    resp = c.post("/api/v1/regions", headers=h, json={"path": "c01/t09", "name": "x", "geometry": huge})
    assert (resp.status_code, resp.json()["reason"]) == (422, "bad_geometry")
    assert c.get("/api/v1/regions", params={"parent": "c01"}, headers=h).json()["total"] == 2


def test_user_bodies_are_bounded(server: Running) -> None:
    c, h = server.client, server.token(*ADMIN)
    resp = c.post(
        "/api/v1/users",
        headers=h,
        json={"username": "u-long", "password": "p" * 1025, "role": "viewer", "region": "c01"},
    )
    assert (resp.status_code, resp.json()) == (
        422,
        invalid("body.password: String should have at most 1024 characters"),
    )


def test_framework_errors_share_the_shape(server: Running) -> None:
    c, h = server.client, server.token(*ADMIN)
    limit = c.get("/api/v1/cases?limit=0", headers=h)
    assert (limit.status_code, limit.json()) == (
        422,
        invalid("query.limit: Input should be greater than or equal to 1"),
    )
    several = c.get("/api/v1/events?limit=501&offset=-1", headers=h)
    assert (several.status_code, several.json()) == (
        422,
        invalid(
            "query.limit: Input should be less than or equal to 500; "
            "query.offset: Input should be greater than or equal to 0"
        ),
    )
    not_json = c.post("/api/v1/regions", headers={**h, "Content-Type": "application/json"}, content=b"{")
    assert (not_json.status_code, not_json.json()) == (422, invalid("body.1: JSON decode error"))
    not_text = c.post("/api/v1/regions", headers={**h, "Content-Type": "application/json"}, content=b"\xff")
    assert (not_text.status_code, not_text.json()) == (
        422,
        invalid("body: There was an error parsing the body"),
    )
    missing = c.get("/api/v1/stats", headers=h)
    assert (missing.status_code, missing.json()) == (
        422,
        invalid("query.since: Field required; query.until: Field required"),
    )
    nowhere = c.get("/api/v1/nowhere", headers=h)
    assert (nowhere.status_code, nowhere.json()) == (404, {"detail": "Not Found", "reason": "not_found"})
    method = c.delete("/api/v1/cases", headers=h)
    assert (method.status_code, method.json()) == (
        405,
        {"detail": "Method Not Allowed", "reason": "method_not_allowed"},
    )
