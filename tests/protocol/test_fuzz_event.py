"""Property-based tests of the event codec and the MQTT payloads (hypothesis, derandomized and
bounded for CI).

- ``Event.from_dict`` of any JSON value answers an event or raises ``ProtocolError``; an event
  it answers is one the server can store and send on: its id is the id on the wire, it
  encodes again, and it decodes back to itself.
- ``decode_events`` of any bytes answers a batch or raises ``ProtocolError``; every good event
  of a batch survives any bad neighbour.
- Every event the model can build round-trips through ``encode_events``/``decode_events``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.event import MAX_SEQ, Event
from protocol.kinds import Kind, Priority
from protocol.payloads import MAX_BATCH, decode_events, encode_events

FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=None)

AT = datetime(2026, 11, 23, 8, 0, 0, 123000, tzinfo=UTC)
GOOD: dict[str, Any] = {
    "v": 1,
    "id": "gw-dongcun-01:123",
    "gateway": "gw-dongcun-01",
    "device": "sn-00a3",
    "kind": "panic",
    "priority": "alarm",
    "at": "2026-11-23T08:00:00.123Z",
    "device_seq": 123,
    "data": {"battery": 87, "rssi": -61},
}

# Any JSON value, as json.loads makes them (NaN and the infinities too: Python reads them).
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# Values near the edges of each field: digits of other scripts and beyond 64 bits in the id,
# times at the ends of the calendar, device ids and kinds almost right.
SEQ_TEXT = st.one_of(
    st.integers(min_value=0, max_value=2**70).map(str),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4),
    st.text(max_size=6),
)
TIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-11-23T08:00:00",
            "2026-02-30T00:00:00Z",
        ]
    ),
    st.text(max_size=30),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "v": st.sampled_from([1, 2, True, 1.0, "1"]) | JSON,
    "id": SEQ_TEXT.map(lambda seq: "gw-dongcun-01:" + seq) | JSON,
    "gateway": st.from_regex(r"[a-z0-9-]{2,33}", fullmatch=True) | JSON,
    "device": st.sampled_from(["sn-00a3", "SN-00a3", "ble-a4c1388d18b2", "rf-ev1527-01e9f5", "sn-"]) | JSON,
    "kind": st.sampled_from([k.value for k in Kind] + ["PANIC", "explode"]) | JSON,
    "priority": st.sampled_from([p.value for p in Priority] + ["urgent"]) | JSON,
    "at": TIMES | JSON,
    "device_seq": st.integers(min_value=-(2**70), max_value=2**70) | JSON,
    "data": st.dictionaries(st.text(max_size=6), JSON, max_size=4) | JSON,
}
# A good event with some fields replaced or left out.
EVENT_LIKE = st.fixed_dictionaries(
    {}, optional={name: values | st.just(GOOD[name]) for name, values in FIELD_VALUES.items()}
).map(lambda changed: {**{k: v for k, v in GOOD.items() if k in changed or k not in FIELD_VALUES}, **changed})
MAYBE_EVENT = EVENT_LIKE | JSON


def _check_event(event: Event, wire: dict[str, Any]) -> None:
    """What the server does with a decoded event: store it under its id, send it on."""
    assert event.id == wire["id"]  # one id on the wire, one in the database
    payload = encode_events([event])
    again = decode_events(payload).events
    assert again == [event]
    json.loads(payload.decode("utf-8"), parse_constant=_no_constants)


def _no_constants(name: str) -> Any:
    raise AssertionError("%s is not JSON" % name)


@FUZZ
@given(MAYBE_EVENT)
@example({**GOOD, "id": "gw-dongcun-01:\u00b2"})  # a superscript two is a digit to str.isdigit
@example({**GOOD, "id": "gw-dongcun-01:\u0661\u0662"})  # Arabic-Indic twelve: another id, same seq
@example({**GOOD, "id": "gw-dongcun-01:" + "9" * 5000})  # past Python's int() digit limit
@example({**GOOD, "id": "gw-dongcun-01:%d" % 2**63})  # past a 64-bit column
@example({**GOOD, "device_seq": 2**63})
@example({**GOOD, "at": "0001-01-01T00:00:00+01:00"})  # before year 1 once in UTC
@example({**GOOD, "at": "9999-12-31T23:59:59-01:00"})  # after year 9999 once in UTC
@example({**GOOD, "data": {"x": float("nan")}})
@example({**GOOD, "data": {"x": [float("inf")]}})
@example({**GOOD, "data": {"x": "\ud800"}})  # a lone surrogate: no UTF-8 for it
@example({**GOOD, "data": {"\udfff": 1}})
def test_from_dict_answers_a_sendable_event_or_a_protocol_error(obj: Any) -> None:
    try:
        event = Event.from_dict(obj)
    except ProtocolError:
        return
    _check_event(event, obj)


@FUZZ
@given(st.binary(max_size=400))
@example(b"[" * 100_000)  # nesting beyond the JSON reader's recursion limit
@example(b'{"v":1' + b',"x":[' * 5000)
@example(b"\xff\xfe[\x00]\x00")
@example(b"[]")
def test_decode_events_of_any_bytes_raises_only_protocol_errors(payload: bytes) -> None:
    try:
        batch = decode_events(payload, gateway="gw-dongcun-01")
    except ProtocolError:
        return
    for event in batch.events:
        assert event.gateway == "gw-dongcun-01"
    assert all(isinstance(why, ProtocolError) for _, why in batch.rejected)


@FUZZ
@given(st.lists(MAYBE_EVENT, min_size=1, max_size=3), st.integers(min_value=0, max_value=3))
@example([{**GOOD, "id": "gw-dongcun-01:\u00b2"}], 0)
@example([[[[[]]]]], 1)
def test_a_good_event_survives_any_neighbour(others: list[Any], where: int) -> None:
    good = {**GOOD, "id": "gw-dongcun-01:424242"}
    batch_items = [*others[:where], good, *others[where:]]
    payload = json.dumps(batch_items, allow_nan=True).encode("utf-8", errors="surrogatepass")
    batch = decode_events(payload, gateway="gw-dongcun-01")
    assert Event.from_dict(good) in batch.events
    assert len(batch.events) + len(batch.rejected) == len(batch_items)
    assert sorted([i for i, _ in batch.rejected]) == [i for i, _ in batch.rejected]


EVENTS = st.builds(
    Event.create,
    gateway=st.from_regex(r"[a-z0-9-]{3,32}", fullmatch=True),
    seq=st.integers(min_value=0, max_value=MAX_SEQ),
    device=st.from_regex(
        r"sn-[0-9a-f]{1,16}|ble-[0-9a-f]{12}|rf-[a-z0-9]{1,16}-[0-9a-f]{1,16}", fullmatch=True
    ),
    kind=st.sampled_from(Kind),
    # The wire carries milliseconds.
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda t: t - timedelta(microseconds=t.microsecond % 1000)),
    device_seq=st.none() | st.integers(min_value=0, max_value=MAX_SEQ),
    data=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            # Bounded so the data stays within MAX_EVENT_DATA (2 KiB) even escaped.
            | st.text(max_size=32),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
            ),
            max_leaves=6,
        ),
        max_size=4,
    ),
)


@settings(FUZZ, max_examples=150)
@given(st.lists(EVENTS, min_size=1, max_size=5))
def test_events_round_trip_through_a_batch(events: list[Event]) -> None:
    batch = decode_events(encode_events(events))
    assert (batch.events, batch.rejected) == (events, [])


@pytest.mark.parametrize("count", [0, MAX_BATCH + 1])
def test_a_batch_holds_one_to_max_batch_events(count: int) -> None:
    event = Event.create("gw-dongcun-01", 1, "sn-00a3", Kind.PANIC, AT)
    assert len(decode_events(encode_events([event] * MAX_BATCH)).events) == MAX_BATCH
    with pytest.raises(ProtocolError) as err:
        encode_events([event] * count)
    assert err.value.reason == "bad_batch"
