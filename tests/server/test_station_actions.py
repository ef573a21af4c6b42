"""Station actions from a kiosk, through the real server (SQLite and PostgreSQL) and Mosquitto:
applied through the workflow as the station's staff, scoped to the station, idempotent on the
action id, answered after the commit; and the admins' REST route for staff PINs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from protocol.actions import StationAction, encode_actions
from protocol.pins import verify_pin
from server.db.models import CaseAction
from tests.server.srv_support import T0, FakeGateway, Running, Watcher, ev

GW = "gw-dongcun-01"
ADMIN = "Admin-Password-2026"


def aid(n: int) -> str:
    return "%032x" % n


def _ingest(server: Running, watcher: Watcher, events: list[Any], gateway: str = GW) -> None:
    gw = FakeGateway(server.broker.url, gateway)
    try:
        gw.send(events)
        watcher.next("sw/v1/gw/%s/ack" % gateway)
    finally:
        gw.close()


def _act(server: Running, watcher: Watcher, actions: list[StationAction], gateway: str = GW,
         before: list[tuple[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Publish a batch on the gateway's actions topic; the server's results. What the server
    published before them (commands, alerts) goes to ``before``."""
    gw = FakeGateway(server.broker.url, gateway)
    try:
        topic = "sw/v1/gw/%s/actions" % gateway
        gw.client.publish(topic, encode_actions(actions), qos=1).wait_for_publish(10)
        while True:
            topic, body = watcher.next()
            if topic == "sw/v1/gw/%s/actions/ack" % gateway:
                return list(body["results"])
            if before is not None:
                before.append((topic, body))
    finally:
        gw.close()


def _case(server: Running, device: str = "sn-00a3", kind: str = "panic") -> dict[str, Any]:
    h = server.token("admin", ADMIN)
    items = server.client.get("/api/v1/cases", params={"device": device}, headers=h).json()["items"]
    (case,) = [c for c in items if c["kind"] == kind]
    return dict(server.client.get("/api/v1/cases/%d" % case["id"], headers=h).json())


def _watch(server: Running) -> Watcher:
    return Watcher(server.broker.url, ["sw/v1/gw/+/ack", "sw/v1/gw/+/actions/ack", "sw/v1/gw/+/cmd"])


def test_going_accepts_the_case_as_station_staff_with_the_station_time(server: Running) -> None:
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "panic", device_seq=41)])
        server.clock.advance(30)
        going = StationAction(aid(1), GW + ":1", "going", "王芳", T0 + timedelta(seconds=12), "路上")
        published: list[tuple[str, Any]] = []
        results = _act(server, watcher, [going], before=published)
        case = _case(server)
        assert results == [{"case": case["id"], "state": "accepted", "id": aid(1), "ok": True}]
        accept = case["actions"][-1]
        assert {k: accept[k] for k in ("action", "from_state", "to_state", "actor", "note", "at")} == {
            "action": "accept", "from_state": "new", "to_state": "accepted", "actor": "王芳", "note": "路上",
            "at": "2026-11-23T08:00:12.301000Z"}
        assert accept["data"] == {"via": "kiosk", "station_at": "2026-11-23T08:00:12.301Z",
                                  "station_action": aid(1)}
        # The device (and the station's board) hear who accepted, for the event it was, before
        # the gateway hears its action was applied.
        (cmd,) = [body for topic, body in published if topic == "sw/v1/gw/%s/cmd" % GW]
        assert cmd == {"id": cmd["id"], "op": "ack_level", "device": "sn-00a3", "device_seq": 41,
                       "level": "accepted", "event": GW + ":1", "by": "王芳"}
    finally:
        watcher.close()


def test_an_action_sent_twice_is_applied_once_and_answered_alike(server: Running) -> None:
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "panic", device_seq=41)])
        going = StationAction(aid(1), GW + ":1", "going", "王芳", T0)
        first = _act(server, watcher, [going])
        again = _act(server, watcher, [going])
        assert first == again
        assert [a["action"] for a in _case(server)["actions"]] == ["open", "accept"]
    finally:
        watcher.close()


def test_handled_and_false_alarm_close_the_case_in_order(server: Running) -> None:
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "panic", device_seq=1), ev(2, "fire", device_seq=2)])
        handled = StationAction(aid(1), GW + ":1", "handled", "王芳", T0 + timedelta(seconds=5), "已到场处置")
        false = StationAction(aid(2), GW + ":2", "false_alarm", "王芳", T0 + timedelta(seconds=6), "误触")
        results = _act(server, watcher, [handled, false])
        assert [(r["id"], r["ok"], r["state"]) for r in results] == [(aid(1), True, "closed"),
                                                                       (aid(2), True, "closed")]
        panic, fire = _case(server), _case(server, kind="fire")
        assert [(a["action"], a["to_state"]) for a in panic["actions"]] == [
            ("open", "new"), ("accept", "accepted"), ("close", "closed")]
        assert panic["actions"][-1]["note"] == "已到场处置"
        assert (panic["resolution"], fire["resolution"]) == ("resolved", "false_alarm")
    finally:
        watcher.close()


def test_going_on_a_case_already_taken_is_a_comment_and_a_closed_case_refuses(server: Running) -> None:
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "panic", device_seq=1)])
        case = _case(server)
        h = server.token("duty-t03")
        assert server.client.post("/api/v1/cases/%d/actions" % case["id"], headers=h,
                                  json={"action": "accept"}).status_code == 200
        results = _act(server, watcher, [StationAction(aid(1), GW + ":1", "going", "王芳", T0)])
        assert results == [{"case": case["id"], "state": "accepted", "id": aid(1), "ok": True}]
        comment = _case(server)["actions"][-1]
        assert (comment["action"], comment["actor"], comment["note"]) == ("comment", "王芳",
                                                                           "station staff going")
        assert server.client.post("/api/v1/cases/%d/actions" % case["id"], headers=h,
                                  json={"action": "false_alarm"}).status_code == 200
        late = _act(server, watcher, [StationAction(aid(2), GW + ":1", "handled", "王芳", T0)])
        assert late == [{"detail": "case %d is closed (false_alarm)" % case["id"], "case": case["id"],
                         "state": "closed", "id": aid(2), "ok": False, "reason": "case_closed"}]
    finally:
        watcher.close()


def test_actions_outside_the_station_are_refused(server: Running) -> None:
    watcher = _watch(server)
    try:
        # sn-0b01 belongs to the other station; here it was heard by this station's gateway.
        _ingest(server, watcher, [ev(1, "panic", device="sn-0b01", device_seq=1)])
        _ingest(server, watcher, [ev(1, "panic", device="sn-0b01", gateway="gw-xicun-01", device_seq=1)],
                gateway="gw-xicun-01")
        results = _act(server, watcher, [
            StationAction(aid(1), GW + ":1", "going", "王芳", T0),  # a device of another station
            StationAction(aid(2), GW + ":77", "going", "王芳", T0),  # an alarm the server lacks
        ])
        assert [(r["id"], r["ok"], r["reason"]) for r in results] == [
            (aid(1), False, "not_in_station"), (aid(2), False, "no_event")]
        # A gateway acts on its own alarms only, even on its own topic.
        foreign = _act(server, watcher, [StationAction(aid(3), "gw-xicun-01:1", "going", "王芳", T0)])
        assert [(r["id"], r["ok"], r["reason"]) for r in foreign] == [(aid(3), False, "wrong_gateway")]
        case = _case(server, "sn-0b01")
        assert case["state"] == "new"
    finally:
        watcher.close()


def test_a_door_event_has_no_case_and_a_bad_batch_gets_no_answer(server: Running) -> None:
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "door_open", device="sn-00a4")])
        results = _act(server, watcher, [StationAction(aid(1), GW + ":1", "going", "王芳", T0)])
        assert [(r["ok"], r["reason"]) for r in results] == [(False, "no_case")]
        gw = FakeGateway(server.broker.url, GW)
        try:
            gw.client.publish("sw/v1/gw/%s/actions" % GW, b"not json", qos=1).wait_for_publish(10)
        finally:
            gw.close()
        # Nothing can be answered for a batch with no readable id; the next good one still is.
        good = _act(server, watcher, [StationAction(aid(2), GW + ":1", "going", "王芳", T0)])
        assert [r["id"] for r in good] == [aid(2)]
        assert server.client.get("/metrics").text.count('reason="actions_bad_json"') == 1
    finally:
        watcher.close()


def test_a_staff_account_of_that_name_is_linked(server: Running) -> None:
    h = server.token("admin", ADMIN)
    made = server.client.post("/api/v1/users", headers=h, json={
        "username": "wangfang", "password": "Station-Staff-2026!", "role": "station_staff",
        "region": "c01/t03/v12"})
    assert made.status_code == 201, made.text
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "panic", device_seq=1)])
        _act(server, watcher, [StationAction(aid(1), GW + ":1", "going", "wangfang", T0)])
        with server.services.db.read() as session:
            accept = session.scalars(select(CaseAction).where(CaseAction.action == "accept")).one()
            assert (accept.actor, accept.user_id) == ("wangfang", made.json()["id"])
    finally:
        watcher.close()


# --- staff PINs over REST --------------------------------------------------------------------

def test_an_admin_sets_a_pin_and_only_its_hash_travels(server: Running) -> None:
    watcher = _watch(server)
    try:
        h = server.token("admin", ADMIN)
        resp = server.client.put("/api/v1/gateways/%s/pins/王芳" % GW, headers=h, json={"pin": "805931"})
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert body == {"command": body["command"], "gateway": GW, "name": "王芳", "op": "set_pin"}
        _, cmd = watcher.next("sw/v1/gw/%s/cmd" % GW)
        assert cmd == {"id": body["command"], "op": "set_pin", "name": "王芳", "by": "admin",
                       "hash": cmd["hash"]}
        assert verify_pin("805931", cmd["hash"]) and "805931" not in json.dumps(cmd)
        kept = server.client.get("/api/v1/commands/%s" % body["command"], headers=h).json()
        assert kept["payload"]["hash"] == "(hash sent to the gateway; not kept)"
        gone = server.client.delete("/api/v1/gateways/%s/pins/王芳" % GW, headers=h)
        assert gone.status_code == 202
        _, cmd = watcher.next("sw/v1/gw/%s/cmd" % GW)
        assert cmd == {"id": gone.json()["command"], "op": "remove_pin", "name": "王芳", "by": "admin"}
    finally:
        watcher.close()


def test_pin_route_refuses_bad_input_and_callers_out_of_scope(server: Running) -> None:
    h = server.token("admin", ADMIN)
    made = server.client.post("/api/v1/users", headers=h, json={
        "username": "admin-t05", "password": "Admin-Of-T05-2026!", "role": "admin", "region": "c01/t05"})
    assert made.status_code == 201, made.text
    path = "/api/v1/gateways/%s/pins/王芳" % GW
    cases = [
        (h, path, {"pin": "1234"}, 422, "weak_pin"),
        (h, path, {"pin": "12a4"}, 422, "bad_pin"),
        (h, "/api/v1/gateways/%s/pins/%%20x" % GW, {"pin": "805931"}, 422, "bad_name"),
        (h, "/api/v1/gateways/gw-nowhere-01/pins/x", {"pin": "805931"}, 404, "not_found"),
        (server.token("duty-t03"), path, {"pin": "805931"}, 403, "forbidden"),
        (server.token("admin-t05", "Admin-Of-T05-2026!"), path, {"pin": "805931"}, 404, "not_found"),
    ]
    for headers, url, body, status, reason in cases:
        resp = server.client.put(url, headers=headers, json=body)
        assert (resp.status_code, resp.json()["reason"]) == (status, reason), (url, body, resp.text)


def test_an_action_on_an_alarm_sent_under_a_reused_id_acts_on_that_alarm(server: Running) -> None:
    """After a reinstall the kiosk names its alarm by the id it was sent under; the server
    stored it under a fresh seq (the id held an older event): the action finds the new one."""
    watcher = _watch(server)
    try:
        _ingest(server, watcher, [ev(1, "fire", device="sn-00a4", device_seq=5)])  # the old install
        reinstalled = ev(1, "panic", device_seq=1, at=T0 + timedelta(days=3))
        _ingest(server, watcher, [reinstalled])
        results = _act(server, watcher, [StationAction(aid(1), GW + ":1", "going", "王芳", T0)])
        panic, fire = _case(server), _case(server, "sn-00a4", "fire")
        assert results == [{"case": panic["id"], "state": "accepted", "id": aid(1), "ok": True}]
        assert fire["state"] == "new"
    finally:
        watcher.close()
