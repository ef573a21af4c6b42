"""Property-based tests of the serial line codec (hypothesis, derandomized and bounded for CI).

- ``decode`` of any bytes answers a message or raises ``ProtocolError``, nothing else; lines
  with a correct CRC over arbitrary bodies reach past the frame check into the field parser.
- Every message ``encode`` accepts decodes back to itself; whatever it refuses, it refuses
  with ``ProtocolError``.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocol.crc import crc16
from protocol.errors import ProtocolError
from protocol.kinds import Kind
from protocol.serial_line import (
    MAX_LINE,
    MAX_SEQ,
    AckLevel,
    SerialAck,
    SerialCommand,
    SerialCommandResult,
    SerialEvent,
    SerialMessage,
    SerialNak,
    SerialRfCode,
    decode,
    encode,
)

# Derandomized: the same examples on every run, so CI is repeatable; a few seconds in all.
FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=None)
QUICK = settings(FUZZ, max_examples=200, suppress_health_check=[HealthCheck.filter_too_much])


def framed(body: bytes) -> bytes:
    return body + b"*" + b"%04X" % crc16(body) + b"\n"


def decodes_cleanly(line: bytes) -> SerialMessage | None:
    """The codec's promise: a message, or ProtocolError; any other exception fails the test."""
    try:
        return decode(line)
    except ProtocolError:
        return None


@FUZZ
@given(st.binary(max_size=MAX_LINE + 8))
@example(b"")
@example(b"*")
@example(b"\n")
@example(b"EV,00a3,17,panic*ZZZZ\n")
@example(b"EV,00a3,17,panic*\xff\xfe\xfd\xfc\n")
def test_decode_of_any_bytes_raises_only_protocol_errors(line: bytes) -> None:
    decodes_cleanly(line)


# Bodies built from the grammar's own pieces, so the CRC is right and the parser has to judge
# the fields: types, node ids, sequence numbers, tokens, key=value pairs, stray separators,
# digits of other scripts, non-ASCII bytes.
PIECES = st.sampled_from(
    ["EV", "AK", "NK", "CM", "CR", "RF", "00a3", "ffffffffffffffff0", "17", "4294967295", "4294967296",
     "99999999999", "-1", "panic", "stored", "ok", "err", "ev1527", "01e9f5", "battery=87", "x=-0",
     "a=b=c", "=1", "k=", "K=1", "on=1", "on=1", "²", "١٢", "\u00e9", ",", "*", "=", " ", "", "\r"]
)  # fmt: skip
BODIES = st.lists(PIECES | st.text(string.printable, max_size=6), min_size=1, max_size=8).map(",".join)


@FUZZ
@given(BODIES)
@example("EV,00a3,١٢,panic")
@example("AK,00a3,²,stored")
@example("EV,00a3,1,panic,a=1,a=2")
def test_decode_of_framed_bodies_raises_only_protocol_errors(body: str) -> None:
    decodes_cleanly(framed(body.encode("utf-8")))


# Messages the grammar allows, with values at and beyond the grammar's edges.
NODES = st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True)
SEQS = st.integers(min_value=0, max_value=MAX_SEQ)
TOKENS = st.from_regex(r"[A-Za-z0-9_.\-]{1,32}", fullmatch=True)
KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)
VALUES = st.integers(min_value=-(10**10) + 1, max_value=10**10 - 1) | TOKENS
FIELDS = st.dictionaries(KEYS, VALUES, max_size=4)
MESSAGES = st.one_of(
    st.builds(SerialEvent, NODES, SEQS, st.sampled_from(Kind), FIELDS),
    st.builds(SerialAck, NODES, SEQS, st.sampled_from(AckLevel)),
    st.builds(SerialNak, NODES, SEQS, TOKENS),
    st.builds(SerialCommand, NODES, SEQS, TOKENS, FIELDS),
    st.builds(SerialCommandResult, NODES, SEQS, st.booleans(), FIELDS),
    st.builds(
        SerialRfCode,
        NODES,
        SEQS,
        st.from_regex(r"[a-z0-9]{1,16}", fullmatch=True),
        st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True),
        FIELDS,
    ),
)


@QUICK
@given(MESSAGES)
@example(SerialCommand("00a3", 5, "pair", {"seconds": "30"}))
@example(SerialEvent("00a3", 1, Kind.TEST, {"code": "-0"}))
def test_what_encode_accepts_decodes_to_the_same_message(message: SerialMessage) -> None:
    try:
        line = encode(message)
    except ProtocolError as exc:
        # The grammar's fields are bounded; a line too long to send is the only refusal here.
        assert exc.reason in ("too_long", "bad_field")
        return
    assert len(line) <= MAX_LINE and line.endswith(b"\n")
    assert decode(line) == message


# Anything at all in the message's fields: refused with ProtocolError, or sent and read back.
ANY_TEXT = st.text(max_size=40)
ANY_VALUE = st.integers() | ANY_TEXT | st.booleans()
ANY_FIELDS = st.dictionaries(ANY_TEXT, ANY_VALUE, max_size=3)


@QUICK
@given(
    st.one_of(
        st.builds(SerialEvent, ANY_TEXT, st.integers(), st.sampled_from(Kind), ANY_FIELDS),
        st.builds(SerialNak, ANY_TEXT, st.integers(), ANY_TEXT),
        st.builds(SerialCommand, ANY_TEXT, st.integers(), ANY_TEXT, ANY_FIELDS),
        st.builds(SerialRfCode, ANY_TEXT, st.integers(), ANY_TEXT, ANY_TEXT, ANY_FIELDS),
    )
)
def test_encode_refuses_only_with_protocol_errors(message: SerialMessage) -> None:
    try:
        line = encode(message)
    except ProtocolError:
        return
    assert decode(line) == message
