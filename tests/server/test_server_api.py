"""REST: auth, region scoping, listing, actions; accept tells the device through its gateway."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.srv_support import PASSWORD, FakeGateway, Running, Watcher, ev


def _ingest(server: Running, watcher: Watcher, events: list[Any]) -> None:
    gw_ids = {e.gateway for e in events}
    for gw_id in gw_ids:
        gw = FakeGateway(server.broker.url, gw_id)
        try:
            gw.send([e for e in events if e.gateway == gw_id])
            watcher.next("sw/v1/gw/%s/ack" % gw_id)
        finally:
            gw.close()


def test_every_api_route_needs_a_token(server: Running) -> None:
    c = server.client
    for method, path in [
        ("GET", "/api/v1/cases"),
        ("GET", "/api/v1/cases/1"),
        ("GET", "/api/v1/events"),
        ("POST", "/api/v1/cases/1/actions"),
    ]:
        resp = c.request(method, path, json={"action": "accept"})
        assert resp.status_code == 401, path
        assert resp.json()["reason"] == "no_token"
    bad = c.get("/api/v1/cases", headers={"Authorization": "Bearer abc.def"})
    assert (bad.status_code, bad.json()["reason"]) == (401, "bad_token")
    assert c.get("/healthz").json() == {
        "status": "ok",
        "failing": [],
        "database": True,
        "mqtt": True,
        "ingest_queue": 0,
        "outbox_unsent": 0,
    }


def test_login(server: Running) -> None:
    c = server.client
    wrong = c.post("/api/v1/auth/token", data={"username": "duty-c01", "password": "nope-nope-nope"})
    nobody = c.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert (wrong.status_code, nobody.status_code) == (401, 401)
    assert (
        wrong.json() == nobody.json() == {"detail": "wrong username or password", "reason": "bad_credentials"}
    )
    missing = c.post("/api/v1/auth/token", data={"username": "duty-c01"})
    assert missing.status_code == 422
    ok = c.post("/api/v1/auth/token", data={"username": "admin", "password": "Admin-Password-2026"})
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "bearer"


def test_region_scoping(server: Running, watcher: Watcher) -> None:
    _ingest(
        server,
        watcher,
        [
            ev(1, "panic", device_seq=1),
            ev(2, "heartbeat"),
            ev(1, "fire", device="sn-0b01", gateway="gw-xicun-01"),
            ev(1, "panic", device="sn-ffff", gateway="gw-unknown-9"),
        ],
    )
    c = server.client

    def devices(user: str, what: str) -> list[str]:
        resp = c.get("/api/v1/%s" % what, headers=server.token(user))
        assert resp.status_code == 200
        return sorted(item["device"] for item in resp.json()["items"])

    # sn-ffff and its gateway are unknown: no region, so only the root sees it.
    assert devices("duty-c01", "cases") == ["sn-00a3", "sn-0b01"]
    assert devices("duty-t03", "cases") == ["sn-00a3"]
    assert devices("duty-t05", "cases") == ["sn-0b01"]
    assert devices("duty-t03", "events") == ["sn-00a3", "sn-00a3"]
    admin = server.token("admin", "Admin-Password-2026")
    assert sorted(i["device"] for i in c.get("/api/v1/cases", headers=admin).json()["items"]) == [
        "sn-00a3",
        "sn-0b01",
        "sn-ffff",
    ]
    t05_case = c.get("/api/v1/cases?device=sn-0b01", headers=admin).json()["items"][0]["id"]
    # Another township's case does not exist for this user, whatever they try.
    t03 = server.token("duty-t03")
    assert c.get("/api/v1/cases/%d" % t05_case, headers=t03).status_code == 404
    resp = c.post("/api/v1/cases/%d/actions" % t05_case, headers=t03, json={"action": "accept"})
    assert resp.status_code == 404
    assert c.get("/api/v1/cases/%d" % t05_case, headers=server.token("duty-t05")).status_code == 200


def test_list_filters_and_pagination(server: Running, watcher: Watcher) -> None:
    _ingest(server, watcher, [ev(i, k) for i, k in enumerate(["panic", "fire", "medical", "intrusion"], 1)])
    c, h = server.client, server.token()
    page1 = c.get("/api/v1/cases?limit=3", headers=h).json()
    page2 = c.get("/api/v1/cases?limit=3&offset=3", headers=h).json()
    assert (page1["total"], len(page1["items"]), len(page2["items"])) == (4, 3, 1)
    ids = [i["id"] for i in page1["items"] + page2["items"]]
    assert ids == sorted(ids, reverse=True)
    fire = c.get("/api/v1/cases?alarm_class=fire", headers=h).json()["items"]
    assert [i["kind"] for i in fire] == ["fire"]
    assert c.get("/api/v1/cases?state=accepted", headers=h).json()["total"] == 0
    assert c.get("/api/v1/cases?state=new&device=sn-00a3", headers=h).json()["total"] == 4
    assert c.get("/api/v1/cases?limit=0", headers=h).status_code == 422
    events = c.get("/api/v1/events?kind=fire", headers=h).json()
    assert [e["id"] for e in events["items"]] == ["gw-dongcun-01:2"]


def test_accept_publishes_ack_level_command(server: Running, watcher: Watcher) -> None:
    _ingest(server, watcher, [ev(1, "panic", device_seq=41)])
    _ingest(server, watcher, [ev(2, "panic", device_seq=42)])
    c, h = server.client, server.token("duty-t03")
    case = c.get("/api/v1/cases", headers=h).json()["items"][0]
    watcher.drain()
    server.clock.advance(20)
    resp = c.post(
        "/api/v1/cases/%d/actions" % case["id"], headers=h, json={"action": "accept", "note": "已电话联系"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["state"], body["deadline"]) == ("accepted", "2026-11-23T08:10:20.301000Z")
    assert [
        (a["action"], a["from_state"], a["to_state"], a["actor"], a["note"]) for a in body["actions"]
    ] == [
        ("open", None, "new", "device:sn-00a3", None),
        ("accept", "new", "accepted", "duty-t03", "已电话联系"),
    ]
    assert [e["device_seq"] for e in body["events"]] == [41, 42]
    _, cmd = watcher.next("sw/v1/gw/gw-dongcun-01/cmd")
    assert cmd == {
        "id": cmd["id"],
        "op": "ack_level",
        "device": "sn-00a3",
        "device_seq": 42,
        "level": "accepted",
        "event": "gw-dongcun-01:2",
        "by": "duty-t03",
    }
    assert len(cmd["id"]) == 36
    _, alert = watcher.next("sw/v1/duty/")
    assert (alert["type"], alert["case"]["state"]) == ("case_updated", "accepted")
    again = c.post("/api/v1/cases/%d/actions" % case["id"], headers=h, json={"action": "accept"})
    assert again.status_code == 409
    assert again.json() == {
        "detail": "cannot accept a case that is accepted (allowed when new)",
        "reason": "illegal_transition",
    }
    closed = c.post(
        "/api/v1/cases/%d/actions" % case["id"], headers=h, json={"action": "close", "note": "ok"}
    )
    assert (closed.json()["state"], closed.json()["open"], closed.json()["resolution"]) == (
        "closed",
        False,
        "resolved",
    )
    # The station's kiosk hears the case is closed (its card leaves the open alarms).
    _, cmd = watcher.next("sw/v1/gw/gw-dongcun-01/cmd")
    assert cmd == {
        "id": cmd["id"],
        "op": "ack_level",
        "device": "sn-00a3",
        "device_seq": 42,
        "level": "closed",
        "event": "gw-dongcun-01:2",
        "by": "duty-t03",
        "resolution": "resolved",
    }


def test_closing_a_maintenance_case_tells_no_station(server: Running, watcher: Watcher) -> None:
    _ingest(server, watcher, [ev(1, "low_battery")])
    c, h = server.client, server.token("duty-t03")
    case = c.get("/api/v1/cases", headers=h).json()["items"][0]
    assert case["category"] == "maintenance"
    watcher.drain()
    closed = c.post("/api/v1/cases/%d/actions" % case["id"], headers=h, json={"action": "cancel"})
    assert closed.json()["state"] == "closed"
    topics = [watcher.next()[0]]
    while not topics[-1].startswith("sw/v1/duty/"):  # up to the case's update (commands go first)
        topics.append(watcher.next()[0])
    topics += [t for t, _ in watcher.drain()]
    assert [t for t in topics if t.endswith("/cmd")] == []


@pytest.mark.parametrize("user", ["viewer-t03"])
def test_viewer_cannot_act(server: Running, watcher: Watcher, user: str) -> None:
    _ingest(server, watcher, [ev(1, "panic")])
    c, h = server.client, server.token(user)
    case = c.get("/api/v1/cases", headers=h).json()["items"][0]
    resp = c.post("/api/v1/cases/%d/actions" % case["id"], headers=h, json={"action": "accept"})
    assert (resp.status_code, resp.json()["reason"]) == (403, "forbidden")


def test_metrics_text(server: Running, watcher: Watcher) -> None:
    _ingest(server, watcher, [ev(1, "panic")])
    text = server.client.get("/metrics").text
    assert "shouwang_events_ingested_total 1\n" in text
    assert "shouwang_cases_opened_total 1\n" in text
    assert "shouwang_ingest_latency_seconds_count 1\n" in text


def test_commands_are_recorded_and_matched_with_results(server: Running, watcher: Watcher) -> None:
    c, h = server.client, server.token("duty-t03")
    resp = c.post("/api/v1/gateways/gw-dongcun-01/commands", headers=h, json={"op": "siren", "on": True})
    assert resp.status_code == 200, resp.text
    cmd_id = resp.json()["id"]
    _, wire = watcher.next("sw/v1/gw/gw-dongcun-01/cmd")
    assert wire == {"device": "gateway", "on": True, "id": cmd_id, "op": "siren"}
    other = c.post("/api/v1/gateways/gw-xicun-01/commands", headers=h, json={"op": "siren", "on": True})
    assert other.status_code == 404  # another township's station
    viewer = c.post(
        "/api/v1/gateways/gw-dongcun-01/commands",
        headers=server.token("viewer-t03"),
        json={"op": "siren", "on": True},
    )
    assert viewer.status_code == 403
    # The gateway answers on cmd/result; a forged answer from another gateway is ignored.
    gw, xi = FakeGateway(server.broker.url), FakeGateway(server.broker.url, "gw-xicun-01")
    try:
        xi.client.publish(
            "sw/v1/gw/gw-xicun-01/cmd/result", b'{"id":"%s","ok":false}' % cmd_id.encode(), qos=1
        ).wait_for_publish(10)
        gw.client.publish(
            "sw/v1/gw/gw-dongcun-01/cmd/result",
            b'{"id":"%s","ok":true,"siren":true}' % cmd_id.encode(),
            qos=1,
        ).wait_for_publish(10)
        gw.send([ev(1, "heartbeat")])  # same worker: once this is acked, the results are in
        watcher.next("sw/v1/gw/gw-dongcun-01/ack")
    finally:
        gw.close()
        xi.close()
    got = c.get("/api/v1/commands/%s" % cmd_id, headers=h).json()
    assert (got["ok"], got["result"], got["sent_by"]) == (True, {"siren": True}, "duty-t03")
    assert server.services.metrics.get("events_rejected", "cmd_unknown") == 1


def test_accept_command_result_lands_in_the_audit_trail(server: Running, watcher: Watcher) -> None:
    _ingest(server, watcher, [ev(1, "panic", device_seq=7)])
    c, h = server.client, server.token("duty-t03")
    case_id = c.get("/api/v1/cases", headers=h).json()["items"][0]["id"]
    c.post("/api/v1/cases/%d/actions" % case_id, headers=h, json={"action": "accept"})
    _, cmd = watcher.next("sw/v1/gw/gw-dongcun-01/cmd")
    gw = FakeGateway(server.broker.url)
    try:
        gw.client.publish(
            "sw/v1/gw/gw-dongcun-01/cmd/result",
            b'{"id":"%s","ok":true,"level":"accepted"}' % cmd["id"].encode(),
            qos=1,
        ).wait_for_publish(10)
        gw.send([ev(2, "heartbeat")])
        watcher.next("sw/v1/gw/gw-dongcun-01/ack")
    finally:
        gw.close()
    actions = c.get("/api/v1/cases/%d" % case_id, headers=h).json()["actions"]
    assert [(a["action"], a["actor"], a["note"]) for a in actions][-1] == (
        "command_result",
        "gateway:gw-dongcun-01",
        "ack_level on gw-dongcun-01: ok",
    )


def test_console_is_served_by_the_app(server: Running) -> None:
    resp = server.client.get("/", follow_redirects=False)
    assert (resp.status_code, resp.headers["location"]) == (307, "/console/")
    assert server.client.get("/console/").status_code == 200
