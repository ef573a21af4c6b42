from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from protocol import Event, Kind, Priority, ProtocolError, Topics
from protocol.payloads import (
    Ack,
    Command,
    CommandResult,
    GatewayStatus,
    decode_ack,
    decode_ack_message,
    decode_events,
    encode_ack,
    encode_events,
    from_ranges,
    to_ranges,
)

AT = datetime(2026, 11, 23, 8, 0, 0, 123000, tzinfo=UTC)
CONTRACT_EXAMPLE = {
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


def test_event_matches_contract_example() -> None:
    event = Event.create("gw-dongcun-01", 123, "sn-00a3", Kind.PANIC, AT, 123, {"battery": 87, "rssi": -61})
    assert event.priority is Priority.ALARM
    assert event.to_dict() == CONTRACT_EXAMPLE
    assert Event.from_dict(json.loads(event.to_json())) == event


def test_unknown_fields_are_ignored() -> None:
    obj = dict(CONTRACT_EXAMPLE, future_field={"x": 1})
    assert Event.from_dict(obj).id == "gw-dongcun-01:123"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"v": 2}, "bad_version"),
        ({"kind": "explode"}, "unknown_kind"),
        ({"priority": "urgent"}, "unknown_priority"),
        ({"id": "gw-other:1"}, "bad_event_id"),
        ({"device": "SN-00A3"}, "bad_device_id"),
        ({"gateway": "GW"}, "bad_gateway_id"),
        ({"at": "yesterday"}, "bad_time"),
        ({"at": "2026-11-23T08:00:00"}, "bad_time"),
        ({"data": [1]}, "bad_field"),
        ({"device_seq": "7"}, "bad_field"),
    ],
)
def test_bad_events(change: dict[str, object], reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        Event.from_dict(dict(CONTRACT_EXAMPLE, **change))
    assert err.value.reason == reason


def test_batch_keeps_good_neighbours_of_a_bad_event() -> None:
    good = Event.create("gw-dongcun-01", 1, "sn-00a3", Kind.PANIC, AT)
    payload = json.dumps([good.to_dict(), {"v": 1, "id": "junk"}, dict(good.to_dict(), id="gw-dongcun-01:2")])
    batch = decode_events(payload.encode(), gateway="gw-dongcun-01")
    assert [e.seq for e in batch.events] == [1, 2]
    assert [(i, e.reason) for i, e in batch.rejected] == [(1, "missing_field")]


def test_batch_rejects_events_of_another_gateway() -> None:
    other = Event.create("gw-other", 1, "sn-00a3", Kind.PANIC, AT)
    batch = decode_events(encode_events([other]), gateway="gw-dongcun-01")
    assert batch.events == []
    assert batch.rejected[0][1].reason == "wrong_gateway"


@pytest.mark.parametrize("payload", [b"", b"{", b"[]", b"42", b"\xff"])
def test_batch_garbage(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_events(payload)


def test_ack_ranges() -> None:
    assert to_ranges([9, 1, 2, 3, 7, 10, 2]) == [(1, 3), (7, 7), (9, 10)]
    assert from_ranges([(1, 3), (7, 7)]) == [1, 2, 3, 7]
    assert encode_ack([1, 2, 3, 7]) == b'{"seqs":[[1,3],[7,7]]}'
    assert decode_ack(b'{"seqs":[[1,3],[7,7]]}') == [(1, 3), (7, 7)]


@pytest.mark.parametrize(
    "payload",
    [b'{"seqs":[[3,1]]}', b'{"seqs":[[1]]}', b'{"seqs":[["1",2]]}', b"[]", b'{"seqs":[[0,99999999]]}'],
)
def test_bad_acks(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_ack(payload)


def test_ack_with_high_water() -> None:
    """The server's high-water mark rides on the ack; readers that do not know it ignore it."""
    payload = encode_ack([1, 2], high_water=57)
    assert payload == b'{"seqs":[[1,2]],"high_water":57}'
    assert decode_ack_message(payload) == Ack([(1, 2)], 57)
    assert decode_ack(payload) == [(1, 2)]
    assert decode_ack_message(b'{"seqs":[[3,3]]}') == Ack([(3, 3)], None)


@pytest.mark.parametrize("mark", [b"-1", b'"57"', b"true", b"1.5", b"9223372036854775808"])
def test_bad_high_water(mark: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_ack_message(b'{"seqs":[[1,1]],"high_water":' + mark + b"}")
    assert err.value.reason == "bad_ack"


def test_status_and_commands() -> None:
    status = GatewayStatus("online", {"version": "0.1.0", "backlog": 3})
    assert GatewayStatus.decode(status.encode()) == status
    cmd = Command("c1", "ack_level", {"device": "sn-00a3", "device_seq": 17, "level": "accepted"})
    assert Command.decode(cmd.encode()) == cmd
    assert CommandResult.decode(CommandResult("c1", True).encode()) == CommandResult("c1", True)
    with pytest.raises(ProtocolError):
        Command.decode(b'{"op":"x"}')


def test_topics() -> None:
    t = Topics()
    assert t.events("gw-dongcun-01") == "sw/v1/gw/gw-dongcun-01/events"
    assert t.cmd_result("gw-dongcun-01") == "sw/v1/gw/gw-dongcun-01/cmd/result"
    assert t.all_gateways("events", shared=True) == "$share/shouwang/sw/v1/gw/+/events"
    assert t.duty_alerts(["c01", "t03", "v12", "g4"]) == "sw/v1/duty/c01/t03/v12/g4/alerts"
    assert t.duty_alerts([]) == "sw/v1/duty/unassigned/alerts"
    assert t.duty_subscription(["c01", "t03"]) == "sw/v1/duty/c01/t03/#"
    parsed = t.parse_gateway("sw/v1/gw/gw-dongcun-01/cmd/result")
    assert (parsed.gateway, parsed.channel) == ("gw-dongcun-01", "cmd/result")
    with pytest.raises(ProtocolError):
        t.parse_gateway("sw/v1/gw/GW/events")
    with pytest.raises(ProtocolError):
        t.duty_alerts(["c01", "t+"])


def test_crc_check_values() -> None:
    from protocol.crc import crc16

    assert crc16(b"123456789") == 0x29B1
