"""Poisoned neighbours: one bad value costs its own event, never the batch around it.

Every batch here holds one valid panic beside events carrying a value Python or the database
cannot take. The panic must be stored, grouped into a case and acked; each bad event is
rejected with its own reason and counted. Only a payload that cannot be read at all is
refused whole, and it goes to the dead-letter table.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from protocol.payloads import MAX_BATCH, MAX_EVENT_DATA, MAX_PAYLOAD
from server.db.models import Case, DeadLetter, EventRow
from tests.server.srv_support import FakeGateway, Running, Watcher, ev

GW = "gw-dongcun-01"


def _raw(seq: object, **fields: object) -> str:
    """One event as JSON text, with ``fields`` replacing or adding raw JSON values."""
    base = {
        "v": "1",
        "id": json.dumps("%s:%s" % (GW, seq), ensure_ascii=False),
        "gateway": json.dumps(GW),
        "device": '"sn-00a3"',
        "kind": '"panic"',
        "priority": '"alarm"',
        "at": '"2026-11-23T08:00:00.301Z"',
        "data": "{}",
    }
    base.update({k: str(v) for k, v in fields.items()})
    return "{" + ",".join('"%s":%s' % (k, v) for k, v in base.items()) + "}"


@pytest.fixture
def gateway(server: Running) -> FakeGateway:
    gw = FakeGateway(server.broker.url)
    yield gw
    gw.close()


def _rows(server: Running) -> list[tuple[str, str, int | None, dict[str, object]]]:
    with server.services.db.read() as s:
        return [
            (r.id, r.kind, r.device_seq, r.data) for r in s.scalars(select(EventRow).order_by(EventRow.seq))
        ]


POISON = [
    # (raw event JSON, reason it is rejected with)
    (_raw("١٢"), "bad_event_id"),  # Arabic-Indic digits: isdigit() says yes, the wire says no
    (_raw("²"), "bad_event_id"),  # a superscript two: int() raises on it
    (_raw(2**64), "bad_event_id"),  # seq beyond 64 bits
    (_raw(11, device_seq=2**64), "out_of_range"),  # device_seq beyond 64 bits
    (_raw(12, device_seq=-1), "out_of_range"),
    (_raw(13, at='"0001-01-01T00:00:00+01:00"'), "bad_time"),  # overflows on conversion to UTC
    (_raw(14, at='"9999-12-31T23:59:59-01:00"'), "bad_time"),
    (_raw(15, data='{"rssi": NaN}'), "non_finite"),
    (_raw(16, data='{"t": [1, Infinity]}'), "non_finite"),
    (_raw(17, device_seq="-Infinity"), "non_finite"),
    (_raw(18, data='{"x": 1e999}'), "non_finite"),  # a float literal that overflows to inf
    (_raw(19, data='{"n": %s}' % ("9" * 5000)), "oversized_integer"),  # beyond Python's own limit
    (_raw(20, device_seq="9" * 30), "out_of_range"),
    (_raw(21, data='{"n": [%s]}' % ("1" * 4400)), "oversized_integer"),
    (_raw(22, data='{"s": "\\ud800"}'), "unencodable"),  # a lone surrogate
    (_raw(23, data='{"\\udfff": 1}'), "unencodable"),
    (_raw(24, data=json.dumps({"blob": "x" * MAX_EVENT_DATA})), "data_too_large"),
]


def test_each_poisoned_event_is_rejected_alone(
    server: Running, watcher: Watcher, gateway: FakeGateway
) -> None:
    good = ev(30, "panic", device_seq=7, battery=87).to_json()
    payload = "[%s]" % ",".join([*(raw for raw, _ in POISON), good])
    gateway.send_raw(payload.encode("utf-8"))
    assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/%s/ack" % GW, {"seqs": [[30, 30]]})
    assert _rows(server) == [("%s:30" % GW, "panic", 7, {"battery": 87})]
    with server.services.db.read() as s:
        cases = [(c.device_id, c.alarm_class, c.event_count) for c in s.scalars(select(Case))]
        assert cases == [("sn-00a3", "panic", 1)]
        assert s.scalars(select(DeadLetter)).all() == []
    m = server.services.metrics
    expected: dict[str, int] = {}
    for _, reason in POISON:
        expected[reason] = expected.get(reason, 0) + 1
    assert {r: m.get("events_rejected", r) for r in expected} == expected
    assert m.get("events_rejected") == len(POISON)
    assert (m.get("events_ingested"), m.get("cases_opened"), m.get("payloads_dead_lettered")) == (1, 1, 0)
    alert = watcher.next("sw/v1/duty/")[1]
    assert (alert["type"], alert["event"]["id"]) == ("case_opened", "%s:30" % GW)


def test_largest_allowed_data_is_stored(server: Running, watcher: Watcher, gateway: FakeGateway) -> None:
    # {"blob":"xx...x"} exactly at the limit: 11 bytes of frame around the string.
    blob = "x" * (MAX_EVENT_DATA - len('{"blob":""}'))
    gateway.send([ev(1, "heartbeat", blob=blob)])
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[1, 1]]}
    assert _rows(server) == [("%s:1" % GW, "heartbeat", None, {"blob": blob})]


UNREADABLE = [
    # (payload, reason): nothing in it can be trusted, so nothing in it is acked
    (b"\xff\xfe not utf-8", "bad_json"),
    (b'[{"v":1, "id": "gw-dongcun-01:1",', "bad_json"),
    (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
    (b"[]", "bad_batch"),
    (b"42", "bad_batch"),
    (("[%s]" % ",".join([ev(1, "heartbeat").to_json()] * (MAX_BATCH + 1))).encode(), "bad_batch"),
    (b"[" + b" " * MAX_PAYLOAD + b"]", "too_large"),
]


def test_unreadable_payloads_go_to_dead_letters(
    server: Running, watcher: Watcher, gateway: FakeGateway
) -> None:
    for payload, _ in UNREADABLE:
        gateway.send_raw(payload)
    gateway.send_raw(UNREADABLE[0][0])  # the same payload again: counted on its dead letter
    gateway.send([ev(9, "heartbeat")])  # the same worker, so everything before it is handled
    assert watcher.next("sw/v1/gw/") == ("sw/v1/gw/%s/ack" % GW, {"seqs": [[9, 9]]})
    assert [r[0] for r in _rows(server)] == ["%s:9" % GW]
    with server.services.db.read() as s:
        letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        got = [(d.gateway_id, d.topic, d.reason, d.size, d.count, d.region_path) for d in letters]
        kept = [(len(d.payload), d.payload[:16]) for d in letters]
    topic = "sw/v1/gw/%s/events" % GW
    assert got == [
        (GW, topic, reason, len(payload), 2 if i == 0 else 1, "c01/t03/v12/g4")
        for i, (payload, reason) in enumerate(UNREADABLE)
    ]
    # What is kept of a payload is bounded; its size and digest tell the rest.
    assert kept == [(min(len(p), DeadLetter.KEEP_BYTES), p[:16]) for p, _ in UNREADABLE]
    m = server.services.metrics
    assert m.get("payloads_dead_lettered") == len(UNREADABLE) + 1
    assert m.get("payloads_dead_lettered", "too_deep") == 1
    assert m.get("events_rejected", "bad_batch") == 3


def test_priority_and_class_come_from_the_kind(
    server: Running, watcher: Watcher, gateway: FakeGateway
) -> None:
    panic_as_status = {**ev(1, "panic", device_seq=3).to_dict(), "priority": "status"}
    door_as_alarm = {**ev(2, "door_open", device="sn-00a4").to_dict(), "priority": "alarm"}
    fire_as_fault = {**ev(3, "fire", device="sn-00a4").to_dict(), "priority": "fault"}
    gateway.send_raw(json.dumps([panic_as_status, door_as_alarm, fire_as_fault]).encode())
    assert watcher.next("sw/v1/gw/")[1] == {"seqs": [[1, 3]]}
    with server.services.db.read() as s:
        events = [(e.id, e.kind, e.priority) for e in s.scalars(select(EventRow).order_by(EventRow.seq))]
        cases = [
            (c.device_id, c.alarm_class, c.kind, c.priority, c.category)
            for c in s.scalars(select(Case).order_by(Case.id))
        ]
    assert events == [
        ("%s:1" % GW, "panic", "alarm"),
        ("%s:2" % GW, "door_open", "status"),
        ("%s:3" % GW, "fire", "alarm"),
    ]
    assert cases == [
        ("sn-00a3", "panic", "panic", "alarm", "alarm"),
        ("sn-00a4", "fire", "fire", "alarm", "alarm"),
    ]
    assert server.services.metrics.get("events_priority_corrected") == 3
