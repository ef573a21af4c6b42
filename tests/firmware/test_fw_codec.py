"""The firmware codec against the gateway's (protocol.serial_line): same bytes out for any
message, same message or same rejection reason for any line."""

from __future__ import annotations

import json
from typing import Any

from fw_runtimes import VECTORS
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.shims import install
from protocol import serial_line as sl
from protocol.errors import ProtocolError
from protocol.kinds import KINDS, parse_kind

install()
import swline  # type: ignore[import-not-found]  # noqa: E402

VECTOR_LIST: list[dict[str, Any]] = json.loads((VECTORS / "serial_lines.json").read_text())


def gateway_view(line: bytes) -> tuple[str, Any]:
    try:
        msg = sl.decode(line)
    except ProtocolError as exc:
        return ("error", exc.reason)
    if isinstance(msg, sl.SerialEvent):
        return ("ok", ("EV", msg.node, msg.seq, msg.kind.value, list(msg.data.items())))
    if isinstance(msg, sl.SerialAck):
        return ("ok", ("AK", msg.node, msg.seq, msg.level.value, []))
    if isinstance(msg, sl.SerialNak):
        return ("ok", ("NK", msg.node, msg.seq, msg.reason, []))
    if isinstance(msg, sl.SerialCommand):
        return ("ok", ("CM", msg.node, msg.seq, msg.op, list(msg.args.items())))
    if isinstance(msg, sl.SerialCommandResult):
        return ("ok", ("CR", msg.node, msg.seq, msg.ok, list(msg.data.items())))
    assert isinstance(msg, sl.SerialRfCode)
    return ("ok", ("RF", msg.node, msg.seq, (msg.proto, msg.code), list(msg.data.items())))


def node_view(line: bytes) -> tuple[str, Any]:
    try:
        return ("ok", swline.decode(line))
    except swline.LineError as exc:
        return ("error", exc.reason)


def test_vectors_cover_every_message_type_and_error() -> None:
    types = {v["message"]["type"] for v in VECTOR_LIST if "message" in v}
    errors = {v["error"] for v in VECTOR_LIST if "error" in v}
    assert types == {"EV", "AK", "NK", "CM", "CR", "RF"}
    assert errors >= {"bad_crc", "bad_frame", "too_long", "unknown_kind", "bad_field", "bad_seq"}


def test_gateway_codec_agrees_with_vectors() -> None:
    for v in VECTOR_LIST:
        line = v["line"].encode()
        if "error" in v:
            assert gateway_view(line) == ("error", v["error"]), v["note"]
        else:
            status, decoded = gateway_view(line)
            assert status == "ok"
            m = v["message"]
            assert decoded[0] == m["type"] and decoded[1] == m["node"] and decoded[2] == m["seq"]


def test_node_codec_agrees_with_vectors() -> None:
    for v in VECTOR_LIST:
        line = v["line"].encode()
        assert node_view(line) == gateway_view(line), v["line"]


key = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)
value = st.one_of(
    st.integers(-(10**9), 10**9),
    st.from_regex(r"[A-Za-z0-9_.\-]{1,8}", fullmatch=True),
)
node_id = st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True)
seq = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=300, deadline=None)
@given(node_id, seq, st.sampled_from(sorted(KINDS)), st.dictionaries(key, value, max_size=4))
def test_events_are_byte_identical(node: str, n: int, kind: str, data: dict[str, int | str]) -> None:
    try:
        expected: bytes | str = sl.encode(sl.SerialEvent(node, n, parse_kind(kind), data))
    except ProtocolError as exc:
        expected = exc.reason
    try:
        got: bytes | str = swline.event(node, n, kind, list(data.items()))
    except swline.LineError as exc:
        got = exc.reason
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(node_id, seq, st.sampled_from(["stored", "delivered", "accepted"]))
def test_acks_are_byte_identical(node: str, n: int, level: str) -> None:
    assert swline.encode("AK", node, n, level) == sl.encode(sl.SerialAck(node, n, sl.AckLevel(level)))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40))
def test_garbage_gets_the_same_verdict(junk: bytes) -> None:
    assert node_view(junk) == gateway_view(junk)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([v["line"] for v in VECTOR_LIST]), st.integers(0, 200), st.integers(0, 255))
def test_corrupted_vectors_get_the_same_verdict(text: str, pos: int, byte: int) -> None:
    line = bytearray(text.encode())
    line[pos % len(line)] = byte
    assert node_view(bytes(line)) == gateway_view(bytes(line))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z0-9_.=\-]{0,12}", fullmatch=True), min_size=1, max_size=7))
def test_framed_bodies_get_the_same_verdict(parts: list[str]) -> None:
    # Well-framed lines with random fields reach the field checks instead of dying at the CRC.
    line = sl.frame(",".join(parts)) if len(",".join(parts)) < 150 else b"x\n"
    assert node_view(line) == gateway_view(line)
