"""MQTT packet bytes and topic filters of the embedded broker: byte vectors in, whole objects out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.broker.mqtt_codec import (
    PROTOCOL_V5,
    PROTOCOL_V311,
    Ack,
    Connect,
    Disconnect,
    MalformedPacket,
    MqttError,
    MqttProtocolError,
    PacketType,
    PingReq,
    Prop,
    Publish,
    Reason,
    Subscribe,
    SubscriptionRequest,
    Unsubscribe,
    Will,
    decode_packet,
    encode_ack,
    encode_connack,
    encode_disconnect,
    encode_publish,
    encode_suback,
    encode_unsuback,
    encode_varint,
)
from server.broker.mqtt_topics import TopicFilter, matches, parse_filter


def split(packet: bytes) -> tuple[int, bytes]:
    """First byte and body of a whole packet whose remaining length fits one byte."""
    assert packet[1] == len(packet) - 2
    return packet[0], packet[2:]


def test_connect_v311_with_will_user_and_password() -> None:
    packet = bytes.fromhex(
        "10 27 0004 4d515454 04 ee 003c"  # MQTT level 4, flags: user, pass, will retain qos1, clean
        "0003 676d31"  # client id "gm1"
        "0005 732f676d31 0007 6f66666c696e65"  # will topic "s/gm1", payload "offline"
        "0002 7576 0002 7077"  # user "uv", password "pw"
    )
    assert decode_packet(*split(packet), PROTOCOL_V5) == Connect(
        level=PROTOCOL_V311,
        clean_start=True,
        keepalive=60,
        client_id="gm1",
        will=Will("s/gm1", b"offline", 1, True, ()),
        username="uv",
        password=b"pw",
    )


def test_connect_v5_with_properties_and_empty_client_id() -> None:
    packet = bytes.fromhex(
        "10 1d 0004 4d515454 05 04 001e"  # level 5, will flag only, keepalive 30
        "05 11 0000012c"  # session expiry 300
        "0000"  # empty client id
        "05 18 0000000a 0001 77 0000"  # will delay 10, will topic "w", empty payload
    )
    assert decode_packet(*split(packet), PROTOCOL_V5) == Connect(
        level=PROTOCOL_V5,
        clean_start=False,
        keepalive=30,
        client_id="",
        properties=((Prop.SESSION_EXPIRY_INTERVAL, 300),),
        will=Will("w", b"", 0, False, ((Prop.WILL_DELAY_INTERVAL, 10),)),
    )


def test_publish_subscribe_unsubscribe_acks_ping_disconnect() -> None:
    v5 = PROTOCOL_V5
    publish = bytes.fromhex("3b 11 0003 612f62 0007 07 26 0001 6b 0001 76") + b"hi"
    # flags 0b1011: dup, QoS 1, retain; user property k=v
    assert decode_packet(publish[0], publish[2:], v5) == Publish(
        "a/b",
        b"hi",
        qos=1,
        retain=True,
        dup=True,
        packet_id=7,
        properties=((Prop.USER_PROPERTY, ("k", "v")),),
    )
    assert decode_packet(0x30, bytes.fromhex("0001 61") + b"x", PROTOCOL_V311) == Publish("a", b"x")
    subscribe = bytes.fromhex("82 0f 0009 02 0b 07 0003 612f23 2d 0001 62 00")
    assert decode_packet(*split(subscribe), v5) == Subscribe(
        9,
        (
            SubscriptionRequest("a/#", 1, no_local=True, retain_as_published=True, retain_handling=2),
            SubscriptionRequest("b", 0),
        ),
        ((Prop.SUBSCRIPTION_IDENTIFIER, 7),),
    )
    assert decode_packet(0xA2, bytes.fromhex("0004 00 0001 62"), v5) == Unsubscribe(4, ("b",))
    assert decode_packet(0x40, bytes.fromhex("0102"), v5) == Ack(PacketType.PUBACK, 0x102)
    assert decode_packet(0x62, bytes.fromhex("0005 92"), v5) == Ack(PacketType.PUBREL, 5, 0x92)
    assert decode_packet(0xC0, b"", v5) == PingReq()
    assert decode_packet(0xE0, b"", v5) == Disconnect()
    assert decode_packet(0xE0, bytes.fromhex("04 05 11 00000000"), v5) == Disconnect(
        4, ((Prop.SESSION_EXPIRY_INTERVAL, 0),)
    )


@pytest.mark.parametrize(
    ("first", "body", "error", "reason"),
    [
        (0x00, b"", MalformedPacket, Reason.MALFORMED_PACKET),  # reserved type 0
        (0x36, bytes.fromhex("0001 61 0001"), MalformedPacket, Reason.MALFORMED_PACKET),  # QoS 3
        (0x38, bytes.fromhex("0001 61"), MalformedPacket, Reason.MALFORMED_PACKET),  # DUP on QoS 0
        (0x32, bytes.fromhex("0001 61 0000"), MalformedPacket, Reason.MALFORMED_PACKET),  # packet id 0
        (0x30, bytes.fromhex("0005 61"), MalformedPacket, Reason.MALFORMED_PACKET),  # string too short
        (0x30, bytes.fromhex("0002 c328"), MalformedPacket, Reason.MALFORMED_PACKET),  # bad UTF-8
        (0x30, bytes.fromhex("0002 6100"), MalformedPacket, Reason.MALFORMED_PACKET),  # U+0000
        (0x30, bytes.fromhex("0001 61 02 7f 00"), MalformedPacket, Reason.MALFORMED_PACKET),  # unknown prop
        (0x30, bytes.fromhex("0001 61 04 01 01 01 01"), MqttProtocolError, Reason.PROTOCOL_ERROR),  # twice
        (0x30, bytes.fromhex("0001 61 ffffffff"), MalformedPacket, Reason.MALFORMED_PACKET),  # varint > 4
        (0x80, bytes.fromhex("0001 00 0001 61 00"), MalformedPacket, Reason.MALFORMED_PACKET),  # flags
        (0x82, bytes.fromhex("0001 00"), MqttProtocolError, Reason.PROTOCOL_ERROR),  # no filters
        (0x82, bytes.fromhex("0001 00 0001 61 03"), MalformedPacket, Reason.MALFORMED_PACKET),  # QoS 3
        (0x82, bytes.fromhex("0001 00 0001 61 c0"), MalformedPacket, Reason.MALFORMED_PACKET),  # reserved
        (0xC0, b"\x00", MalformedPacket, Reason.MALFORMED_PACKET),  # trailing byte
        (0x20, bytes.fromhex("0000"), MqttProtocolError, Reason.PROTOCOL_ERROR),  # CONNACK from a client
        (0xF0, b"", MqttProtocolError, Reason.PROTOCOL_ERROR),  # AUTH
        (
            0x10,
            bytes.fromhex("0004 4d515454 03 02 003c 0000"),
            MqttProtocolError,
            Reason.UNSUPPORTED_PROTOCOL_VERSION,
        ),
        (0x10, bytes.fromhex("0004 4d515454 04 03 003c 0000"), MalformedPacket, Reason.MALFORMED_PACKET),
        (0x10, bytes.fromhex("0004 4d515454 04 18 003c 0000"), MalformedPacket, Reason.MALFORMED_PACKET),
        (
            0x10,
            bytes.fromhex("0004 4d515454 04 06 003c 0000 0001 2b 0000"),
            MqttProtocolError,
            Reason.TOPIC_NAME_INVALID,
        ),  # will topic "+"
    ],
)
def test_malformed_packets_raise_with_the_reason_to_close_with(
    first: int, body: bytes, error: type[MqttError], reason: Reason
) -> None:
    with pytest.raises(error) as caught:
        decode_packet(first, body, PROTOCOL_V5)
    assert caught.type is error
    assert caught.value.reason == reason


def test_encoders_produce_the_specified_bytes() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01"
    assert encode_varint(268_435_455) == b"\xff\xff\xff\x7f"
    assert encode_connack(PROTOCOL_V311, True, 0) == bytes.fromhex("20 02 01 00")
    assert encode_connack(PROTOCOL_V5, False, 0, ((Prop.MAXIMUM_PACKET_SIZE, 1024),)) == bytes.fromhex(
        "20 08 00 00 05 27 00000400"
    )
    assert encode_publish(PROTOCOL_V311, "a/b", b"x", 1, False, True, 10) == bytes.fromhex(
        "3a 08 0003 612f62 000a 78"
    )
    assert encode_publish(
        PROTOCOL_V5, "t", b"", 0, True, props=((Prop.SUBSCRIPTION_IDENTIFIER, 300),)
    ) == bytes.fromhex("31 07 0001 74 03 0b ac02")
    assert encode_ack(PROTOCOL_V5, PacketType.PUBACK, 1) == bytes.fromhex("40 02 0001")
    assert encode_ack(PROTOCOL_V5, PacketType.PUBCOMP, 2, 0x92) == bytes.fromhex("70 03 0002 92")
    assert encode_ack(PROTOCOL_V311, PacketType.PUBREL, 3) == bytes.fromhex("62 02 0003")
    assert encode_suback(PROTOCOL_V5, 5, [1, 0x8F]) == bytes.fromhex("90 05 0005 00 01 8f")
    assert encode_suback(PROTOCOL_V311, 5, [0, 0x80]) == bytes.fromhex("90 04 0005 00 80")
    assert encode_unsuback(PROTOCOL_V5, 6, [0, 0x11]) == bytes.fromhex("b0 05 0006 00 00 11")
    assert encode_unsuback(PROTOCOL_V311, 6, [0]) == bytes.fromhex("b0 02 0006")
    assert encode_disconnect(Reason.SESSION_TAKEN_OVER) == bytes.fromhex("e0 02 8e 00")


def test_filters_are_validated_and_shared_ones_parsed() -> None:
    assert parse_filter("sw/v1/gw/+/events") == TopicFilter(
        "sw/v1/gw/+/events", "sw/v1/gw/+/events", None, ("sw", "v1", "gw", "+", "events")
    )
    assert parse_filter("$share/shouwang/sw/v1/#") == TopicFilter(
        "$share/shouwang/sw/v1/#", "sw/v1/#", "shouwang", ("sw", "v1", "#")
    )
    for bad in ("", "a/#/b", "a#", "a/b+", "+a", "$share/g", "$share//a", "$share/g+/a", "$share/g/"):
        assert parse_filter(bad) is None, bad


@pytest.mark.parametrize(
    ("filter_text", "topic", "expected"),
    [
        ("sw/v1/gw/+/events", "sw/v1/gw/gw-a/events", True),
        ("sw/v1/gw/+/events", "sw/v1/gw/gw-a/ack", False),
        ("sw/v1/gw/+/events", "sw/v1/gw/events", False),
        ("sw/v1/duty/c01/#", "sw/v1/duty/c01", True),
        ("sw/v1/duty/c01/#", "sw/v1/duty/c01/t03/v12/alerts", True),
        ("sw/v1/duty/c01/#", "sw/v1/duty/c02/alerts", False),
        ("#", "a", True),
        ("+", "", True),
        ("+/+", "/a", True),
        ("a/+", "a/", True),
        ("a", "a/b", False),
        ("#", "$SYS/broker", False),
        ("+/broker", "$SYS/broker", False),
        ("$SYS/#", "$SYS/broker", True),
        ("a/$x/+", "a/$x/y", True),
    ],
)
def test_topic_matching(filter_text: str, topic: str, expected: bool) -> None:
    tf = parse_filter(filter_text)
    assert tf is not None
    assert matches(tf.levels, topic.split("/")) is expected


@settings(max_examples=2000, deadline=None)
@given(
    first=st.integers(0, 255),
    body=st.binary(max_size=64),
    level=st.sampled_from([PROTOCOL_V311, PROTOCOL_V5]),
)
def test_any_bytes_decode_or_raise_mqtt_error(first: int, body: bytes, level: int) -> None:
    try:
        decode_packet(first, body, level)
    except MqttError:
        pass


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 40), flip=st.integers(0, 40 * 8 - 1))
def test_damaged_connect_packets_decode_or_raise_mqtt_error(cut: int, flip: int) -> None:
    body = bytearray(
        bytes.fromhex("0004 4d515454 05 c6 001e 05 11 0000012c 0002 6964 00 0001 77 0001 78 0001 75 0001 70")
    )
    body = body[: len(body) - cut]
    if body:
        body[(flip // 8) % len(body)] ^= 1 << (flip % 8)
    try:
        decode_packet(0x10, bytes(body), PROTOCOL_V5)
    except MqttError:
        pass
