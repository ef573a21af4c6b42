"""Live push: the hub's fan-out and catch-up by the byte, then consoles on real server instances."""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.topics import Topics
from server.api import stream as stream_route
from server.db.engine import Database
from server.db.models import User
from server.ingest.mqtt import Inbound, Listener, MqttLink
from server.live import QUEUE, LiveHub, Subscriber, case_change
from server.scope import Scope
from shouwang.mosquitto import Mosquitto
from tests.server.live_support import Stream, server_instance, token, write_seed
from tests.server.srv_support import WAIT, FakeGateway, Watcher, ev

ALERT = (
    '{"v":1,"type":"case_opened","case":{"id":7,"state":"new","alarm_class":"panic","kind":"panic",'
    '"priority":"alarm","opened_at":"2026-11-23T08:00:00.301Z","deadline":"2026-11-23T08:01:00.301Z",'
    '"event_count":1,"deadline_status":"green","escalation_level":0},'
    '"event":{"v":1,"id":"gw-dongcun-01:1","gateway":"gw-dongcun-01","device":"sn-00a3","kind":"panic",'
    '"priority":"alarm","at":"2026-11-23T08:00:00.123Z","data":{}},'
    '"device":{"id":"sn-00a3","name":"王奶奶家 呼叫按钮","model":"sw-panic-button"},'
    '"station":{"code":"st-dongcun","name":"东村服务站"},'
    '"region":{"path":["c01","t03","v12","g4"],"names":["东县","河镇","东村","第四网格"]},'
    '"location":{"lat":34.1,"lon":108.9,"address":"东村 1 号"}}'
).encode()
CHANGE = {
    "type": "case_opened",
    "case": {
        "id": 7,
        "state": "new",
        "open": True,
        "kind": "panic",
        "alarm_class": "panic",
        "priority": "alarm",
        "opened_at": "2026-11-23T08:00:00.301Z",
        "deadline": "2026-11-23T08:01:00.301Z",
        "deadline_status": "green",
        "escalation_level": 0,
        "event_count": 1,
        "device": "sn-00a3",
        "gateway": "gw-dongcun-01",
        "region_path": "c01/t03/v12/g4",
    },
    "location": {"lat": 34.1, "lon": 108.9},
}
T03 = Scope(1, "duty-t03", "duty_officer", "c01/t03")
T05 = Scope(2, "duty-t05", "duty_officer", "c01/t05")
ROOT = Scope(3, "admin", "admin", None)


def _moved(to: list[str], state: str = "new") -> bytes:
    alert = json.loads(ALERT)
    alert["type"], alert["region"]["path"], alert["case"]["state"] = "case_updated", to, state
    return json.dumps(alert, ensure_ascii=False).encode()


def _frame(event: str, data: object, event_id: str | None = None) -> bytes:
    head = "id: %s\n" % event_id if event_id else ""
    return (
        "%sevent: %s\ndata: %s\n\n"
        % (head, event, json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    ).encode()


def _drain(sub: Subscriber) -> list[bytes | None]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


def _run(hub: LiveHub, *payloads: bytes) -> None:
    """Offer payloads as the MQTT thread would, and let the loop hand them out."""

    async def go() -> None:
        hub.bind(asyncio.get_running_loop())
        for p in payloads:
            hub.offer(p)
        await asyncio.sleep(0)

    asyncio.run(go())


def test_a_duty_alert_becomes_the_case_as_the_board_lists_it() -> None:
    assert case_change(json.loads(ALERT)) == (7, "c01/t03/v12/g4", CHANGE)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"type":"case_opened"}', ALERT.replace(b'"path":["c01"', b'"path":[1')],
)
def test_a_malformed_alert_reaches_nobody(payload: bytes) -> None:
    hub = LiveHub()
    sub, _, _ = hub.subscribe(ROOT, None)
    _run(hub, payload)
    assert _drain(sub) == []


def test_only_consoles_whose_scope_holds_the_case_get_it() -> None:
    hub = LiveHub()
    t03, _, _ = hub.subscribe(T03, None)
    t05, _, _ = hub.subscribe(T05, None)
    root, _, _ = hub.subscribe(ROOT, None)
    _run(hub, ALERT)
    expected = _frame("case", CHANGE, "%s-1" % hub.epoch)
    assert (_drain(t03), _drain(t05), _drain(root)) == ([expected], [], [expected])


def test_a_transfer_tells_the_old_region_the_case_is_gone_and_nothing_more() -> None:
    hub = LiveHub()
    t03, _, _ = hub.subscribe(T03, None)
    t05, _, _ = hub.subscribe(T05, None)
    _run(hub, ALERT, _moved(["c01", "t05", "v01", "g1"]))
    moved = dict(CHANGE, type="case_updated", case=dict(CHANGE["case"], region_path="c01/t05/v01/g1"))  # type: ignore[arg-type]
    assert _drain(t03) == [
        _frame("case", CHANGE, "%s-1" % hub.epoch),
        _frame("gone", {"id": 7}, "%s-2" % hub.epoch),
    ]
    assert _drain(t05) == [_frame("case", moved, "%s-3" % hub.epoch)]


def test_a_console_that_reconnects_gets_what_it_missed_or_is_told_to_reread() -> None:
    hub = LiveHub(recent=3)
    _run(hub, ALERT, _moved(["c01", "t03", "v12", "g4"], "accepted"), _moved(["c01", "t05", "v01", "g1"]))
    # Missed frames 2 and 3 (3 is the 'gone' for 河镇; 4 is 山镇's and not theirs).
    _, replay, resync = hub.subscribe(T03, "%s-1" % hub.epoch)
    assert resync is False
    assert [f.split(b"\n")[:2] for f in replay] == [
        [b"id: %s-2" % hub.epoch.encode(), b"event: case"],
        [b"id: %s-3" % hub.epoch.encode(), b"event: gone"],
    ]
    assert hub.subscribe(T03, "%s-4" % hub.epoch)[1:] == ([], False)  # up to date
    for stale in [None, "", "junk", "other-1", "%s-0" % hub.epoch, "%s-9" % hub.epoch, "%s-x" % hub.epoch]:
        # Before the buffer (it keeps 3 of 4), from another instance, or nonsense: re-read the board.
        assert hub.subscribe(T03, stale)[1:] == ([], True), stale


def test_feed_state_is_told_to_every_console_once() -> None:
    hub = LiveHub()
    sub, _, _ = hub.subscribe(T05, None)

    async def go() -> None:
        hub.bind(asyncio.get_running_loop())
        for live in (True, True, False):
            hub.set_live(live)
        await asyncio.sleep(0)

    asyncio.run(go())
    assert _drain(sub) == [_frame("feed", {"live": True}), _frame("feed", {"live": False})]


def test_a_console_that_does_not_read_is_cut_off_not_buffered_forever() -> None:
    hub = LiveHub()
    sub, _, _ = hub.subscribe(T03, None)
    _run(hub, *[ALERT] * (QUEUE + 5))
    assert sub.cut_off is True
    assert _drain(sub) == [None]


# -- real server instances -------------------------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path, broker: Mosquitto) -> Iterator[tuple[str, str, str]]:
    """Two server instances on one SQLite file and one broker, as a county runs several."""
    db_url = "sqlite:///%s" % (tmp_path / "server.db")
    seed = write_seed(tmp_path / "seed.json")
    with server_instance(db_url, broker, seed) as one, server_instance(db_url, broker, seed) as two:
        yield one, two, db_url


def _press(broker: Mosquitto, watcher: Watcher, seq: int, device: str, gateway: str) -> None:
    gw = FakeGateway(broker.url, gateway)
    try:
        gw.send([ev(seq, "panic", device=device, gateway=gateway, device_seq=seq)])
        watcher.next("sw/v1/gw/%s/ack" % gateway)
    finally:
        gw.close()


def test_a_console_in_another_township_never_receives_the_alarm(
    stack: tuple[str, str, str], broker: Mosquitto, watcher: Watcher
) -> None:
    _, two, _ = stack
    t03 = Stream(two, token(two, "duty-t03"))
    t05 = Stream(two, token(two, "duty-t05"))
    try:
        assert (t03.status, t05.status) == (200, 200)
        assert t03.next().event == "ready" and t05.next().event == "ready"
        _press(broker, watcher, 1, "sn-00a3", "gw-dongcun-01")
        theirs = t03.next("case").data["case"]
        assert (theirs["device"], theirs["region_path"], theirs["state"]) == (
            "sn-00a3",
            "c01/t03/v12/g4",
            "new",
        )
        # Only after 河镇's console had it does 山镇 get an alarm of its own: anything of 河镇's
        # for 山镇 would have been queued before it.
        _press(broker, watcher, 2, "sn-0b01", "gw-xicun-01")
        mine = t05.next("case").data["case"]
        assert (mine["device"], mine["region_path"]) == ("sn-0b01", "c01/t05/v01/g1")
    finally:
        t03.close()
        t05.close()
    assert b"sn-00a3" not in t05.raw and b"c01/t03" not in t05.raw
    assert b'"id":%d,' % theirs["id"] not in t05.raw


def test_an_action_on_one_instance_reaches_a_console_on_the_other(
    stack: tuple[str, str, str], broker: Mosquitto, watcher: Watcher
) -> None:
    one, two, _ = stack
    console = Stream(two, token(two, "duty-c01"))
    try:
        console.next("ready")
        _press(broker, watcher, 1, "sn-00a3", "gw-dongcun-01")
        case_id = console.next("case").data["case"]["id"]
        resp = console_action(one, case_id)
        assert resp == 200
        changed = console.case(case_id)
        assert (changed.data["type"], changed.data["case"]["state"]) == ("case_updated", "accepted")
    finally:
        console.close()


def console_action(base: str, case_id: int) -> int:
    import httpx

    headers = {"Authorization": "Bearer " + token(base, "duty-t03")}
    resp = httpx.post(base + "/api/v1/cases/%d/actions" % case_id, json={"action": "accept"}, headers=headers)
    return resp.status_code


def test_a_reconnecting_console_catches_up_with_its_last_event_id(
    stack: tuple[str, str, str], broker: Mosquitto, watcher: Watcher
) -> None:
    _, two, _ = stack
    tok = token(two, "duty-t03")
    first = Stream(two, tok)
    assert first.next("ready").data["resync"] is True  # a first connection reads the board
    _press(broker, watcher, 1, "sn-00a3", "gw-dongcun-01")
    last = first.next("case").id
    first.close()
    _press(broker, watcher, 2, "sn-00a4", "gw-dongcun-01")  # while the console is away
    again = Stream(two, tok, last_event_id=last)
    try:
        missed = again.next()
        assert (missed.event, missed.data["case"]["device"]) == ("case", "sn-00a4")
        assert again.next().data == {"resync": False, "live": True, "instance": last.split("-")[0]}
    finally:
        again.close()


def test_the_stream_needs_a_token_and_ends_when_the_user_is_disabled(
    stack: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, two, db_url = stack
    refused = Stream(two, "abc.def")
    assert refused.status == 401
    refused.close()
    monkeypatch.setattr(stream_route, "RECHECK", 0.2)
    console = Stream(two, token(two, "viewer-t03"))
    console.next("ready")
    db = Database.open(db_url)
    try:
        with db.write() as s:
            user = s.query(User).filter_by(username="viewer-t03").one()
            user.active = False
    finally:
        db.close()
    assert console.ended()
    console.close()


def test_the_duty_feed_reads_on_the_servers_one_connection(broker: Mosquitto) -> None:
    """A broker that binds client ids to accounts allows one connection per server account, so
    the feed is a reader on the ingest link: its messages reach the hub, never the ingest queue."""
    inbox: queue.Queue[Inbound | None] = queue.Queue()
    got: queue.Queue[bytes] = queue.Queue()
    states: queue.Queue[bool] = queue.Queue()
    link = MqttLink(broker.url, "shouwang-feed-test", Topics(), inbox, session_expiry=5)
    link.listen(Listener("sw/v1/duty/#", got.put, states.put))
    link.start()
    try:
        assert states.get(timeout=WAIT) is True
        link.publish("sw/v1/duty/c01/t03/v12/g4/alerts", ALERT)
        assert got.get(timeout=WAIT) == ALERT
        assert inbox.empty()
    finally:
        link.stop()
    assert states.get(timeout=WAIT) is False
