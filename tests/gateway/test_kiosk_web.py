"""The kiosk as its page talks to it: the gateway process with a pty node, its HTTP API and live
stream, and (where the uplink matters) a real Mosquitto with a paho client standing in for the
server. The page itself runs in Chromium in test_kiosk_browser.py."""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import load_settings
from gateway.daemon import Gateway
from gateway.errors import GatewayError
from gateway.kiosk.web import client_allowed, host_allowed
from protocol import serial_line as sl
from protocol.actions import ActionResult, encode_action_results
from protocol.kinds import Kind
from protocol.payloads import Command, CommandResult
from protocol.pins import hash_pin
from tests.gateway.gw_support import WAIT, FakeServer, PtyNode, wait_for

GW = "gw-dongcun-01"
PIN = "2468"
CONFIG = """\
[gateway]
id = "gw-dongcun-01"
data_dir = "data"

[mqtt]
url = "{url}"
resend_after_s = 1.0
keepalive_s = 5

[[serial]]
port = "{port}"

[kiosk]
listen = "127.0.0.1:0"
station = "东村服务站"
{kiosk}

[[devices]]
id = "sn-00a3"
name = "王奶奶家 呼叫按钮"
model = "sw-panic-button"
location = "3 组 12 号"

[[devices]]
id = "sn-00a4"
name = "小卖部 门磁"
model = "sw-door-sensor"
location = "小卖部"
"""
NO_BROKER = "mqtt://127.0.0.1:9"  # nothing listens: the uplink stays down


class Station:
    def __init__(self, tmp_path: Path, node: PtyNode, url: str = NO_BROKER, kiosk: str = "") -> None:
        self.config = tmp_path / "gateway.toml"
        self.config.write_text(CONFIG.format(url=url, port=node.port, kiosk=kiosk), encoding="utf-8")
        self.node = node
        self.gw = Gateway(load_settings(self.config))
        self.gw.start()
        assert self.gw.ports[0].wait_open(WAIT)
        assert self.gw.kiosk is not None and self.gw.kiosk_server is not None
        self.kiosk = self.gw.kiosk
        self.kiosk.pins.set("王芳", hash_pin(PIN, iterations=10_000), set_by="test", now=self.gw.now())
        self.http = httpx.Client(base_url=self.gw.kiosk_server.url.rstrip("/"), timeout=WAIT)

    def close(self) -> None:
        self.http.close()
        self.gw.stop()

    def state(self) -> dict[str, Any]:
        resp = self.http.get("/api/state")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def sign_in(self, pin: str = PIN, name: str = "王芳") -> httpx.Response:
        return self.http.post("/api/session", json={"name": name, "pin": pin})

    def press(self, seq: int, kind: Kind = Kind.PANIC, node: str = "00a3") -> sl.SerialMessage:
        self.node.event(node, seq, kind, battery=80)
        return self.node.read_msg()

    def alarm(self, seq: int) -> dict[str, Any]:
        wait_for(lambda: any(a["seq"] == seq for a in self.state()["alarms"]), what="alarm %d" % seq)
        return next(a for a in self.state()["alarms"] if a["seq"] == seq)

    def act(self, alarm: str, action: str, note: str = "") -> httpx.Response:
        return self.http.post("/api/alarms/%s/actions" % alarm, json={"action": action, "note": note})


@pytest.fixture
def node() -> Iterator[PtyNode]:
    n = PtyNode()
    yield n
    n.close()


@pytest.fixture
def station(tmp_path: Path, node: PtyNode) -> Iterator[Station]:
    st = Station(tmp_path, node)
    yield st
    st.close()


def _times_out(alarm: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alarm.items() if k not in ("at", "last_at", "closed_at")}


def test_the_page_and_its_files_are_served(station: Station) -> None:
    page = station.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-CN">' in page.text and 'src="/kiosk.js"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "http" not in page.text.replace('href="/', "").split("<body>")[0].lower()  # no external assets
    assert station.http.get("/kiosk.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert station.http.get("/kiosk.css").status_code == 200
    missing = station.http.get("/admin")
    assert (missing.status_code, missing.json()) == (404, {"error": "not_found", "detail": "no such page"})


def test_a_press_is_on_the_board_with_name_place_and_level(station: Station) -> None:
    assert station.press(1) == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)
    alarm = station.alarm(1)
    assert _times_out(alarm) == {
        "id": GW + ":1", "seq": 1, "device": "sn-00a3", "kind": "panic", "repeats": 0, "level": "stored",
        "delivered": False, "accepted_by": "", "closed": "", "closed_by": "", "name": "王奶奶家 呼叫按钮",
        "location": "3 组 12 号", "actions": [],
    }
    # A second press of the same button joins the card, as the server joins the case.
    station.press(2)
    wait_for(lambda: station.alarm(1)["repeats"] == 1, what="the repeat")
    state = station.state()
    assert [a["seq"] for a in state["alarms"]] == [1]
    assert state["link"] == {**state["link"], "up": False, "backlog": {"alarm": 2, "fault": 0, "status": 0},
                             "actions_queued": 0, "last_delivery": None}
    assert (state["station"], state["me"], state["staff"]) == ("东村服务站", None, ["王芳"])
    device = next(d for d in state["devices"] if d["id"] == "sn-00a3")
    keys = ("battery", "missing", "tamper", "supervised", "transport", "model_name")
    assert {k: device[k] for k in keys} == {
        "battery": 80, "missing": False, "tamper": False, "supervised": True, "transport": "serial",
        "model_name": "守望紧急按钮（有线串口）"}


def test_a_locked_screen_shows_the_board_but_cannot_act(station: Station) -> None:
    station.press(1)
    station.alarm(1)
    resp = station.act(GW + ":1", "going")
    assert (resp.status_code, resp.json()["error"]) == (401, "signed_out")
    assert station.http.post("/api/siren", json={"on": False}).status_code == 401
    assert station.http.post("/api/test", json={}).status_code == 401
    assert station.kiosk.queue.count_queued() == 0


def test_wrong_pins_over_http_are_refused_then_throttled(station: Station) -> None:
    for _ in range(4):
        resp = station.sign_in("1357")
        assert (resp.status_code, resp.json()) == (401, {"error": "wrong_pin", "detail": "wrong name or PIN"})
        assert "set-cookie" not in resp.headers
    resp = station.sign_in("1357")
    assert (resp.status_code, resp.headers["retry-after"]) == (429, "30")
    assert resp.json() == {"error": "throttled", "detail": "too many wrong PINs; try again in 30 s",
                           "retry_after": 30}
    assert station.sign_in(PIN).status_code == 429  # locked: the right PIN waits too
    bad = station.http.post("/api/session", json={"name": " 王芳", "pin": PIN})
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_name")


def test_going_is_queued_and_the_device_hears_accepted_at_once(station: Station) -> None:
    station.press(1)
    station.alarm(1)
    signed = station.sign_in()
    assert (signed.status_code, signed.json()) == (200, {"me": "王芳"})
    assert "HttpOnly" in signed.headers["set-cookie"] and "SameSite=Strict" in signed.headers["set-cookie"]
    assert station.state()["me"] == "王芳"
    resp = station.act(GW + ":1", "going")
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"id": resp.json()["id"], "event": GW + ":1", "queued": True}
    # Local first: the villager's button hears that a person is coming, link or not.
    assert station.node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.ACCEPTED)
    alarm = station.alarm(1)
    assert (alarm["level"], alarm["delivered"], alarm["accepted_by"]) == ("accepted", False, "王芳")
    assert [(a["action"], a["by"], a["state"]) for a in alarm["actions"]] == [("going", "王芳", "queued")]
    assert station.state()["link"]["actions_queued"] == 1
    # A retransmission of the press is answered with the level reached.
    station.node.send(sl.encode(sl.SerialEvent("00a3", 1, Kind.PANIC, {"battery": 80})))
    assert station.node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.ACCEPTED)


def test_handled_closes_the_card_and_a_closed_alarm_refuses_more(station: Station) -> None:
    station.press(1)
    station.alarm(1)
    station.sign_in()
    assert station.act(GW + ":1", "handled", "老人误按").status_code == 202
    alarm = station.alarm(1)
    assert (alarm["closed"], alarm["closed_by"]) == ("handled", "王芳")
    assert alarm["actions"][0] | {"at": None} == {"action": "handled", "by": "王芳", "at": None,
                                                  "note": "老人误按", "state": "queued", "reason": "",
                                                  "detail": ""}
    again = station.act(GW + ":1", "false_alarm")
    assert (again.status_code, again.json()["error"]) == (409, "alarm_closed")
    # A new press after it is a new card.
    station.press(2)
    assert station.alarm(2)["closed"] == ""


@pytest.mark.parametrize(("alarm", "body", "status", "error"), [
    (GW + ":99", {"action": "going"}, 404, "no_such_alarm"),  # not (or no longer) on the board
    ("gw-xicun-01:1", {"action": "going"}, 404, "no_such_alarm"),  # another station's alarm
    ("nonsense", {"action": "going"}, 404, "no_such_alarm"),
    (GW + ":1", {"action": "dance"}, 400, "bad_action"),
    (GW + ":1", {"action": "going", "note": "x" * 501}, 400, "note_too_long"),
    (GW + ":1", {"action": 5}, 400, "bad_input"),
    (GW + ":1", {}, 400, "bad_input"),
])
def test_bad_actions_get_clear_errors(station: Station, alarm: str, body: dict[str, Any], status: int,
                                      error: str) -> None:
    station.press(1)
    station.alarm(1)
    station.sign_in()
    resp = station.http.post("/api/alarms/%s/actions" % alarm, json=body)
    assert (resp.status_code, resp.json()["error"]) == (status, error)
    assert station.kiosk.queue.count_queued() == 0


def test_requests_that_are_not_plain_json_from_this_page_are_refused(station: Station) -> None:
    station.sign_in()
    form = station.http.post("/api/test", content=b"x=1",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (form.status_code, form.json()["error"]) == (400, "not_json")
    broken = station.http.post("/api/test", content=b"{", headers={"Content-Type": "application/json"})
    assert (broken.status_code, broken.json()["error"]) == (400, "not_json")
    huge = station.http.post("/api/test", content=b"[" + b" " * 20000 + b"]",
                             headers={"Content-Type": "application/json"})
    assert (huge.status_code, huge.json()["error"]) == (400, "too_large")
    other_site = station.http.post("/api/test", json={}, headers={"Origin": "http://example.com"})
    assert (other_site.status_code, other_site.json()["error"]) == (403, "cross_site")
    # A site whose name was re-pointed at the station (DNS rebinding) cannot even read the board.
    rebound = station.http.get("/api/state", headers={"Host": "evil.example:8080"})
    assert (rebound.status_code, rebound.json()["error"]) == (403, "bad_host")
    assert station.http.get("/api/state", headers={"Host": "localhost:8080"}).status_code == 200
    assert station.kiosk.test.running() is None


@pytest.mark.parametrize(("address", "allowed"), [
    ("127.0.0.1", True), ("::1", True), ("192.168.1.23", True), ("10.8.0.4", True), ("172.16.5.5", True),
    ("169.254.10.1", True), ("fe80::1%eth0", True), ("fd00::12", True), ("::ffff:192.168.1.5", True),
    ("8.8.8.8", False), ("100.64.0.1", False), ("2001:db8::1", False), ("::ffff:8.8.8.8", False),
    ("0.0.0.0", False), ("not an address", False),
])
def test_only_the_stations_network_is_served(address: str, allowed: bool) -> None:
    assert client_allowed(address) is allowed


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:8080", True), ("192.168.1.10:8080", True), ("[fe80::1]:8080", True), ("[::1]", True),
    ("localhost:8080", True), ("192.168.1.10", True), ("station.example:8080", False), ("", False),
    (None, False),
])
def test_the_page_is_opened_by_address(host: str | None, allowed: bool) -> None:
    assert host_allowed(host) is allowed


def test_configured_networks_are_served_too() -> None:
    import ipaddress

    vpn = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("2001:db8::/32"))
    assert client_allowed("100.64.0.1", vpn) and client_allowed("2001:db8::1", vpn)
    assert not client_allowed("8.8.8.8", vpn)


def test_a_full_disk_refuses_actions_with_a_clear_error(tmp_path: Path, node: PtyNode) -> None:
    st = Station(tmp_path, node, kiosk="reserve_mb = 100000000")  # more than any disk has free
    try:
        st.press(1)
        st.alarm(1)
        st.sign_in()
        resp = st.act(GW + ":1", "going")
        assert (resp.status_code, resp.json()["error"]) == (507, "disk_full")
        assert "kept for alarms" in resp.json()["detail"]
        assert st.state()["disk_full"] is True
        assert st.alarm(1)["level"] == "stored"  # nothing was promised
        # Alarms keep their room: the outbox still stores and acks presses.
        assert st.press(2) == sl.SerialAck("00a3", 2, sl.AckLevel.STORED)
    finally:
        st.close()


def test_pins_set_and_removed_by_server_commands(station: Station) -> None:
    gw = station.gw
    ok = gw.command(Command("c1", "set_pin", {"name": "李强", "hash": hash_pin("805931", iterations=10_000),
                                              "by": "admin"}))
    assert ok == CommandResult("c1", True, {"name": "李强"})
    assert station.sign_in("805931", "李强").status_code == 200
    assert station.state()["me"] == "李强"
    bad = gw.command(Command("c2", "set_pin", {"name": "李强", "hash": "805931"}))
    assert bad is not None and (bad.ok, bad.extra["error"]) == (False, "bad_pin_hash")
    assert gw.command(Command("c3", "set_pin", {"name": 7})) == CommandResult(
        "c3", False, {"error": "bad_args"})
    assert gw.command(Command("c4", "remove_pin", {"name": "李强"})) == CommandResult(
        "c4", True, {"name": "李强"})
    assert station.state()["me"] is None  # the session ended with the PIN
    assert station.sign_in("805931", "李强").status_code == 401
    gone = gw.command(Command("c5", "remove_pin", {"name": "李强"}))
    assert gone is not None and (gone.ok, gone.extra["error"]) == (False, "no_such_staff")


def test_pairing_adds_a_device_the_station_heard(station: Station) -> None:
    station.node.event("0c01", 1, Kind.PANIC)
    assert station.node.read_msg() == sl.SerialNak("0c01", 1, "unknown_device")
    wait_for(lambda: station.state()["unknown"], what="the unknown device listed")
    unknown = station.state()["unknown"][0]
    assert {k: unknown[k] for k in ("device", "transport", "count")} == {
        "device": "sn-0c01", "transport": "serial", "count": 1}
    assert "sw-panic-button" in unknown["models"] and "shelly-blu-button1" not in unknown["models"]
    assert station.http.post("/api/pairing", json={"device": "sn-0c01", "name": "x"}).status_code == 401
    station.sign_in()
    nameless = station.http.post("/api/pairing", json={"device": "sn-0c01", "name": " "})
    assert (nameless.status_code, nameless.json()["error"]) == (400, "name_required")
    wrong = station.http.post("/api/pairing",
                              json={"device": "sn-0c01", "name": "新按钮", "model": "no-such"})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "pairing_failed")
    resp = station.http.post("/api/pairing", json={"device": "sn-0c01", "name": "李爷爷家 按钮",
                                                   "model": "sw-panic-button", "location": "5 组"})
    assert (resp.status_code, resp.json()) == (200, {"device": "sn-0c01", "devices": 3})
    assert 'id = "sn-0c01"' in station.config.read_text(encoding="utf-8")
    assert station.state()["unknown"] == []
    assert [d["id"] for d in station.state()["devices"]] == ["sn-00a3", "sn-00a4", "sn-0c01"]
    assert station.press(2, node="0c01") == sl.SerialAck("0c01", 2, sl.AckLevel.STORED)
    assert station.alarm(1)["name"] == "李爷爷家 按钮"
    twice = station.http.post("/api/pairing", json={"device": "sn-0c01", "name": "again"})
    assert (twice.status_code, twice.json()["error"]) == (400, "pairing_failed")


def test_the_monthly_test_ticks_as_presses_arrive(station: Station) -> None:
    station.sign_in()
    assert station.http.post("/api/test", json={}).status_code == 200
    again = station.http.post("/api/test", json={})
    assert (again.status_code, again.json()["error"]) == (409, "test_running")
    station.press(1, Kind.HEARTBEAT)  # alive, but nobody pressed anything
    station.press(2, Kind.TEST)
    wait_for(lambda: station.state()["test"]["running"]["done"] == 1, what="the button ticked")
    run = station.state()["test"]["running"]
    assert [(d["device"], d["kind"]) for d in run["devices"]] == [("sn-00a3", "test"), ("sn-00a4", None)]
    station.press(1, Kind.DOOR_OPEN, node="00a4")
    wait_for(lambda: station.state()["test"]["running"]["done"] == 2, what="the door ticked")
    assert station.http.delete("/api/test").status_code == 200
    state = station.state()["test"]
    assert state["running"] is None
    assert (state["last"]["done"], state["last"]["total"], state["last"]["finished_by"]) == (2, 2, "王芳")
    none = station.http.delete("/api/test")
    assert (none.status_code, none.json()["error"]) == (409, "no_test_running")


def test_the_siren_is_silenced_from_the_page(station: Station) -> None:
    assert station.gw.command(Command("s1", "siren", {"device": "gateway", "on": True})) == CommandResult(
        "s1", True, {"device": "gateway", "siren": True})
    assert station.state()["siren"] == {"on": True}
    station.sign_in()
    refused = station.http.post("/api/siren", json={"on": True})
    assert (refused.status_code, refused.json()["error"]) == (400, "bad_input")
    assert station.http.post("/api/siren", json={"on": False}).json() == {"siren": False}
    assert station.state()["siren"] == {"on": False}


def test_the_live_stream_pushes_a_press(station: Station) -> None:
    events: queue.Queue[dict[str, Any]] = queue.Queue()

    def listen() -> None:
        with station.http.stream("GET", "/api/events", timeout=WAIT) as resp:
            assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    events.put(json.loads(line[6:]))
                    if any(a["seq"] == 1 for a in json.loads(line[6:])["alarms"]):
                        return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    first = events.get(timeout=WAIT)
    assert first["alarms"] == [] and first["me"] is None
    wait_for(lambda: station.gw.kiosk_server is not None and station.gw.kiosk_server.streams == 1,
             what="the stream registered")
    station.press(1)
    while True:
        state = events.get(timeout=WAIT)
        if state["alarms"]:
            break
    assert state["alarms"][0]["id"] == GW + ":1"
    reader.join(WAIT)


def test_a_kiosk_port_in_use_stops_the_start_cleanly(tmp_path: Path, node: PtyNode) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "gateway.toml"
        config.write_text(CONFIG.format(url=NO_BROKER, port=node.port, kiosk="").replace(
            '"127.0.0.1:0"', '"127.0.0.1:%d"' % port), encoding="utf-8")
        gw = Gateway(load_settings(config))
        with pytest.raises(GatewayError, match="kiosk cannot listen on 127.0.0.1:%d" % port):
            gw.start()
        assert gw.writer is not None and not gw.writer._thread.is_alive()
    # The files are free again: the same gateway starts once the port is.
    loaded = load_settings(config)
    assert loaded.kiosk is not None
    settings = replace(loaded, kiosk=replace(loaded.kiosk, listen="127.0.0.1:0"))
    again = Gateway(settings)
    again.start()
    again.stop()


# --- with the uplink ----------------------------------------------------------------------------

class ActionServer:
    """The server's side of station actions: a paho client that answers each action with a
    result, after the test says so."""

    def __init__(self, host: str, port: int) -> None:
        self.received: queue.Queue[list[dict[str, Any]]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-actions", protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe("sw/v1/gw/%s/actions" % GW, 1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.received.put(json.loads(m.payload))
        self.client.connect(host, port)
        self.client.loop_start()
        assert ready.wait(WAIT)

    def answer(self, results: list[ActionResult]) -> None:
        self.client.publish("sw/v1/gw/%s/actions/ack" % GW, encode_action_results(results), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_actions_go_up_after_their_alarm_and_leave_on_the_result(tmp_path: Path, node: PtyNode,
                                                                 broker: Any) -> None:
    server = FakeServer(broker.host, broker.port, GW, auto_ack=False).start()
    actions = ActionServer(broker.host, broker.port)
    st = Station(tmp_path, node, url=broker.url)
    try:
        assert st.gw.uplink is not None and st.gw.uplink.connected.wait(WAIT)
        wait_for(lambda: st.state()["link"]["up"], what="the kiosk sees the link")
        st.press(1)
        st.sign_in()
        action_id = st.act(GW + ":1", "going").json()["id"]
        assert st.node.read_msg() == sl.SerialAck("00a3", 1, sl.AckLevel.ACCEPTED)
        wait_for(lambda: 1 in server.seqs(), what="the alarm published")
        assert actions.received.empty()  # the server does not have the alarm yet: the action waits
        server.ack([1])
        wait_for(lambda: st.alarm(1)["delivered"], what="delivered")
        assert st.alarm(1)["level"] == "accepted"  # accepted at the station stays
        batch = actions.received.get(timeout=WAIT)
        assert [(a["id"], a["event"], a["action"], a["by"]) for a in batch] == [
            (action_id, GW + ":1", "going", "王芳")]
        assert st.alarm(1)["actions"][0]["state"] == "queued"  # published is not applied
        result = ActionResult(action_id, True, "", {"case": 12, "state": "accepted"})
        actions.answer([result])
        actions.answer([result])  # delivered twice
        wait_for(lambda: st.alarm(1)["actions"][0]["state"] == "applied", what="the result applied")
        assert st.state()["link"]["actions_queued"] == 0
        assert st.state()["link"]["last_delivery"] is not None
        # The duty room accepted another alarm: the board shows who, from the ack level.
        st.press(2, node="00a4", kind=Kind.TAMPER)  # a fault: not on the board
        st.node.event("00a3", 3, Kind.FIRE)
        st.node.read_msg()
        wait_for(lambda: 3 in server.seqs(), what="the fire alarm published")
        server.command({"id": "k1", "op": "ack_level", "device": "sn-00a3", "device_seq": 3,
                        "event": GW + ":3", "level": "accepted", "by": "duty-t03"})
        wait_for(lambda: any(a["device"] == "sn-00a3" and a["kind"] == "fire" and a["level"] == "accepted"
                             for a in st.state()["alarms"]), what="accepted by the duty room")
        fire = next(a for a in st.state()["alarms"] if a["kind"] == "fire")
        assert fire["accepted_by"] == "duty-t03"
        assert next(d for d in st.state()["devices"] if d["id"] == "sn-00a4")["tamper"] is True
        # A refusal is final too, and shown.
        refused_id = st.act(fire["id"], "false_alarm", "测试").json()["id"]
        server.ack([2, 3])
        got = actions.received.get(timeout=WAIT)
        assert [a["id"] for a in got] == [refused_id]
        refusal = ActionResult(refused_id, False, "case_closed", {"state": "closed", "detail": "closed"})
        actions.answer([refusal])
        wait_for(lambda: st.alarm(fire["seq"])["actions"][0]["state"] == "refused", what="the refusal")
        assert st.alarm(fire["seq"])["actions"][0]["reason"] == "case_closed"
    finally:
        st.close()
        actions.close()
        server.stop()


def test_a_case_the_duty_room_closes_leaves_the_open_alarms(tmp_path: Path, node: PtyNode,
                                                           broker: Any) -> None:
    server = FakeServer(broker.host, broker.port, GW, auto_ack=True).start()
    st = Station(tmp_path, node, url=broker.url)
    try:
        assert st.gw.uplink is not None and st.gw.uplink.connected.wait(WAIT)
        st.press(1)
        st.node.event("00a3", 2, Kind.FIRE)
        st.node.read_msg()
        wait_for(lambda: {1, 2} <= set(server.seqs()), what="both alarms published")
        server.command({"id": "k1", "op": "ack_level", "device": "sn-00a3", "device_seq": 1,
                        "event": GW + ":1", "level": "closed", "by": "duty-t03", "resolution": "false_alarm"})
        server.command({"id": "k2", "op": "ack_level", "device": "sn-00a3", "device_seq": 2,
                        "event": GW + ":2", "level": "closed", "by": "duty-t03", "resolution": "resolved"})
        wait_for(lambda: st.alarm(2)["closed"] != "", what="the fire closed by the duty room")
        assert [(st.alarm(s)["closed"], st.alarm(s)["closed_by"]) for s in (1, 2)] == [
            ("false_alarm", "duty-t03"), ("closed", "duty-t03")]
        assert st.alarm(1)["delivered"] is True
    finally:
        st.close()
        server.stop()


# --- what a crash or a full kiosk.db may keep from the board --------------------------------------

def test_the_board_catches_up_after_a_crash(tmp_path: Path, node: PtyNode) -> None:
    import sqlite3

    st = Station(tmp_path, node)
    st.press(1)
    st.press(1, node="00a4", kind=Kind.TAMPER)  # a fault: never a card
    st.node.event("00a3", 2, Kind.FIRE)
    st.node.read_msg()
    wait_for(lambda: len(st.state()["alarms"]) == 2, what="two cards")
    st.close()
    data = tmp_path / "data"
    with sqlite3.connect(data / "kiosk.db") as kiosk:  # the kiosk died before its own commit
        kiosk.execute("DELETE FROM alarms")
    with sqlite3.connect(data / "outbox.db") as outbox:  # and the server acked the fire alarm
        outbox.execute("DELETE FROM events WHERE kind = 'fire'")
    st = Station(tmp_path, node)
    try:
        alarms = st.state()["alarms"]
        assert [(a["kind"], a["delivered"]) for a in alarms] == [("panic", False)]
    finally:
        st.close()
    # And a card the kiosk kept whose event the server acked meanwhile is delivered.
    with sqlite3.connect(data / "outbox.db") as outbox:
        outbox.execute("DELETE FROM events")
    st = Station(tmp_path, node)
    try:
        assert [(a["kind"], a["delivered"]) for a in st.state()["alarms"]] == [("panic", True)]
    finally:
        st.close()


def test_a_press_reaches_the_board_once_the_full_kiosk_database_has_room(tmp_path: Path,
                                                                       node: PtyNode) -> None:
    from gateway.kiosk.errors import DiskFull
    from gateway.outbox import Appended, Incoming

    st = Station(tmp_path, node, kiosk="max_db_mb = 1\nreserve_mb = 1")
    try:
        filler = iter(range(100_000, 200_000))
        for size in (500, 50, 1):  # cards of other buttons, until not one more fits
            with pytest.raises(DiskFull):
                while True:
                    seqs = itertools.islice(filler, size)
                    st.kiosk.board.record([(Incoming("sn-%x" % seq, Kind.PANIC, st.gw.now(), seq),
                                            Appended(seq, False, 1)) for seq in seqs])
        before = st.gw.counters.get("errors.kiosk")
        assert st.press(1) == sl.SerialAck("00a3", 1, sl.AckLevel.STORED)  # the outbox has its room
        wait_for(lambda: st.gw.counters.get("errors.kiosk") > before, what="the board's update failing")
        assert not any(a["device"] == "sn-00a3" for a in st.state()["alarms"])
        with st.kiosk.db.write() as conn:
            conn.execute("DELETE FROM alarms WHERE seq >= 100000")
        assert _times_out(st.alarm(1))["device"] == "sn-00a3"  # tried again at a tick
        assert st.alarm(1)["repeats"] == 0
    finally:
        st.close()
