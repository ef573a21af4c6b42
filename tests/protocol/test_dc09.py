"""SIA DC-09 frames: vectors from panels, the standard's form and independent implementations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol.dc09 import (
    ANSWER,
    FrameSplitter,
    Verdict,
    ack,
    crc16_arc,
    decrypt_block,
    duh,
    encode_message,
    encrypt_block,
    judge,
    nak,
    open_message,
    read_frame,
)
from protocol.errors import ProtocolError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
CASES = json.loads((VECTORS / "sia_dc09_cases.json").read_text(encoding="utf-8"))
KEY = b"AAAAAAAAAAAAAAAA"
T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def zero_pad(count: int) -> str:
    return "0" * count


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _key_lookup(keys: dict[str, str | None]) -> Any:
    def key_for(account: str) -> bytes | None:
        if account not in keys:
            raise ProtocolError("unknown_account", account)
        value = keys[account]
        return bytes.fromhex(value) if value is not None else None

    return key_for


def _outcome(verdict: Verdict, now: datetime) -> dict[str, Any]:
    if verdict.message is None:
        assert verdict.answer is not None
        return {"reason": verdict.reason, "answer": verdict.answer.decode()}
    m = verdict.message
    return {
        "reason": None,
        "account": m.account,
        "type": m.frame.type,
        "encrypted": m.frame.encrypted,
        "timestamp": m.timestamp.isoformat().replace("+00:00", "Z") if m.timestamp else None,
        "xdata": [list(x) for x in m.xdata],
        "events": [
            {
                "code": e.code,
                "kind": e.meaning.kind.value,
                "label": e.meaning.label,
                "restore": e.meaning.restore,
                "zone": e.zone,
                "area": e.area,
                "text": e.text,
            }
            for e in m.events
        ],
        "answer": ack(m, now, verdict.key, pad=zero_pad).decode(),
    }


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_frame_vectors(case: dict[str, Any]) -> None:
    now = _at(case["now"])
    verdict = judge(case["frame"].encode("ascii"), _key_lookup(case["keys"]), now)
    assert _outcome(verdict, now) == case["expect"]


def test_shared_panel_frames_all_pass_the_crc() -> None:
    lines = [ln for ln in (VECTORS / "sia_dc09.txt").read_text().splitlines() if not ln.startswith("#")]
    frames = [read_frame(line.encode()) for line in lines]
    assert [(f.type, f.seq, f.account, f.length_ok) for f in frames] == [
        ("SIA-DCS", "6002", "AAA", False),  # LEN fields of real panels are often wrong
        ("SIA-DCS", "0004", "1111", False),
        ("ADM-CID", "0247", "4F39", True),  # 47 characters, written in decimal
    ]


def test_crc16_arc_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D
    assert crc16_arc(b"") == 0


def test_frame_with_lf_and_cr_and_hex_length() -> None:
    raw = b'\n96ED0016"SIA-DCS"0001L0#1234[]\r'
    frame = read_frame(raw)
    assert (frame.type, frame.seq, frame.receiver, frame.line, frame.account, frame.length_ok) == (
        "SIA-DCS", "0001", None, "0", "1234", True)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'96ED0016"SIA-DCS"0001L0#1234[]', None),
        (b'96EE0016"SIA-DCS"0001L0#1234[]', "bad_crc"),
        (b'ZZZZ0016"SIA-DCS"0001L0#1234[]', "bad_frame"),
        (b"96ED0016", "bad_frame"),
        (b'96ED0016"SIA-DCS"0001L0#1234[]\xff', "bad_frame"),
        (b'96ED0016"SIA-DCS"0001L0#1234[\x01]', "bad_frame"),
        (b"\n" + b"A" * 1100 + b"\r", "bad_frame"),
    ],
)
def test_read_frame_refusals(raw: bytes, reason: str | None) -> None:
    if reason is None:
        assert read_frame(raw).account == "1234"
        return
    with pytest.raises(ProtocolError) as err:
        read_frame(raw)
    assert err.value.reason == reason


def test_frame_without_header_fields() -> None:
    body = '"SIA-DCS"01L0#1234[]'
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    with pytest.raises(ProtocolError, match="bad_frame"):
        read_frame(raw)


def test_account_only_inside_the_data() -> None:
    body = '"SIA-DCS"0003L0[#00AB12|Nri2/BA004]'
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    verdict = judge(raw, _key_lookup({"00AB12": None}), T0)
    assert verdict.message is not None
    assert verdict.message.account == "00AB12"
    assert [(e.code, e.meaning.kind.value, e.zone, e.area) for e in verdict.message.events] == [
        ("BA", "intrusion", "004", "2")]
    assert ack(verdict.message, T0) == b'\n' + b'451E0014"ACK"0003L0#00AB12[]' + b"\r"


def test_encrypted_frame_without_account_in_header() -> None:
    body = '"*NULL"0003L0[' + encrypt_block("]_10:00:00,11-29-2026", KEY, zero_pad)
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    verdict = judge(raw, _key_lookup({"1111": KEY.hex()}), T0)
    assert (verdict.reason, verdict.answer) == (
        "bad_frame", b'\n' + b'D6AA0025"NAK"0000R0L0A0[]_10:00:00,11-29-2026' + b"\r")


def test_several_events_and_modifiers_in_one_sia_message() -> None:
    frame = encode_message("SIA-DCS", 12, "1234", "Nid12/ri2/OP001/BA005|Afront door/TA006", key=None)
    verdict = judge(frame, _key_lookup({"1234": None}), T0)
    assert verdict.message is not None
    assert [(e.code, e.meaning.kind.value, e.zone, e.area, e.text) for e in verdict.message.events] == [
        ("OP", "door_open", "001", "2", None),
        ("BA", "intrusion", "005", "2", "front door/TA006"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("Nri1/ba001", "bad_data"),
        ("Xri1/BA001", "bad_data"),
        ("Afront door", "bad_data"),
        ("Nri1//BA001", "bad_data"),
        ("Nri1/BA001[x", "bad_data"),
    ],
)
def test_sia_data_refusals(data: str, reason: str) -> None:
    body = '"SIA-DCS"0001L0#1234[#1234|%s]' % data
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    verdict = judge(raw, _key_lookup({"1234": None}), T0)
    assert (verdict.reason, verdict.answer) == (reason, duh(read_frame(raw)))


@pytest.mark.parametrize(
    "tail",
    ["]_25:00:00,11-29-2026", "]_10:00:00,13-29-2026", "]_10:00,11-29-2026", "][x1]", "][X1"],
)
def test_bad_timestamp_or_extended_data(tail: str) -> None:
    body = '"SIA-DCS"0001L0#1234[#1234|Nri1/BA001' + tail
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    verdict = judge(raw, _key_lookup({"1234": None}), T0)
    assert verdict.message is None
    assert verdict.reason in ("bad_timestamp", "bad_data")
    expected = nak(T0, read_frame(raw)) if verdict.reason == "bad_timestamp" else duh(read_frame(raw))
    assert verdict.answer == expected


def test_null_with_data_is_not_understood() -> None:
    raw = encode_message("NULL", 5, "1234", "Nri1/BA001")
    verdict = judge(raw, _key_lookup({"1234": None}), T0)
    assert (verdict.reason, verdict.answer) == ("bad_data", b'\n' + b'F05E0012"DUH"0005L0#1234[]' + b"\r")


def test_encrypted_frame_needs_a_timestamp() -> None:
    body = '"*SIA-DCS"0001L0#1111[' + encrypt_block("|Nri1/BA001]", KEY, zero_pad)
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    verdict = judge(raw, _key_lookup({"1111": KEY.hex()}), T0)
    assert (verdict.reason, verdict.answer) == ("no_timestamp", nak(T0, read_frame(raw)))


def test_encrypted_block_that_is_not_whole_blocks() -> None:
    body = '"*NULL"0001L0#1111[ABCD'
    raw = ("%04X%04X" % (crc16_arc(body.encode()), len(body)) + body).encode()
    verdict = judge(raw, _key_lookup({"1111": KEY.hex()}), T0)
    assert verdict.reason == "bad_frame"


def test_decrypt_with_wrong_key_that_gives_ascii_without_bracket() -> None:
    plain = b"0123456789abcdef"  # ASCII but no ']' inside: not a DC-09 block
    enc = Cipher(algorithms.AES(KEY), modes.CBC(bytes(16))).encryptor()
    hex_text = (enc.update(plain) + enc.finalize()).hex()
    with pytest.raises(ProtocolError, match="bad_key"):
        decrypt_block(hex_text, KEY)


def test_key_sizes() -> None:
    for size in (16, 24, 32):
        key = bytes(range(size))
        block = encrypt_block("]_10:00:00,11-29-2026", key)
        assert decrypt_block(block, key) == "]_10:00:00,11-29-2026"
    with pytest.raises(ProtocolError, match="bad_key"):
        encrypt_block("]", bytes(15))


def test_random_pad_never_uses_separators() -> None:
    key = bytes(range(16))
    for _ in range(50):
        block = encrypt_block("|Nri1/BA001]_10:00:00,11-29-2026", key)
        assert decrypt_block(block, key) == "Nri1/BA001]_10:00:00,11-29-2026"


def test_bad_pad_is_refused() -> None:
    with pytest.raises(ProtocolError, match="bad_pad"):
        encrypt_block("]", KEY, lambda n: "|" * n)


def test_encode_message_refusals() -> None:
    with pytest.raises(ProtocolError, match="bad_seq"):
        encode_message("SIA-DCS", 10000, "1234", "Nri1/BA001")
    with pytest.raises(ProtocolError, match="no_timestamp"):
        encode_message("SIA-DCS", 1, "1234", "Nri1/BA001", key=KEY)


def test_timestamp_window_edges() -> None:
    raw = encode_message("ADM-CID", 9, "1234", "1130 01 001", timestamp=T0)
    keys = _key_lookup({"1234": None})
    assert judge(raw, keys, T0 + timedelta(seconds=40)).message is not None
    assert judge(raw, keys, T0 - timedelta(seconds=20)).message is not None
    assert judge(raw, keys, T0 + timedelta(seconds=41)).reason == "stale_timestamp"
    assert judge(raw, keys, T0 - timedelta(seconds=21)).reason == "stale_timestamp"
    assert judge(raw, keys, T0 + timedelta(seconds=100), past=timedelta(seconds=120)).message is not None


def test_every_refusal_has_an_answer() -> None:
    assert set(ANSWER.values()) == {"NAK", "DUH"}
    assert ANSWER["replayed"] == "NAK"


def test_open_message_refusals_directly() -> None:
    frame = read_frame(encode_message("ADM-CID", 9, "1234", "1130 01 001"))
    with pytest.raises(ProtocolError, match="not_encrypted"):
        open_message(frame, KEY)


def test_frame_splitter_cuts_a_stream() -> None:
    one = encode_message("NULL", 1, "1234", "")
    two = encode_message("ADM-CID", 2, "1234", "1130 01 001")
    splitter = FrameSplitter()
    stream = b"noise" + one + two
    got: list[bytes] = []
    for i in range(0, len(stream), 7):  # arrives in small pieces
        got.extend(splitter.feed(stream[i : i + 7]))
    assert got == [one[1:-1], two[1:-1]]
    assert splitter.dropped == 5


def test_frame_splitter_drops_an_unfinished_and_an_overlong_frame() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(b"\nabc\n") == []
    assert splitter.dropped == 3
    assert splitter.feed(b"A" * 1030) == []
    assert splitter.dropped == 3 + 1030  # the frame so far, then the bytes after it
    ok = encode_message("NULL", 1, "1234", "")
    assert splitter.feed(ok) == [ok[1:-1]]


# Properties: whatever a panel sends through encode_message comes back whole, and no single
# changed byte of a frame is taken for a different message.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ACCOUNTS = st.text("0123456789ABCDEF", min_size=3, max_size=16)
CID = st.tuples(st.sampled_from("136"), st.integers(0, 999), st.integers(0, 99), st.integers(0, 999)).map(
    lambda t: "%s%03d %02d %03d" % t)
SIA = st.lists(
    st.tuples(st.sampled_from(["BA", "FA", "PA", "OP", "CL", "TA", "RP", "ZA"]), st.integers(0, 999)),
    min_size=1, max_size=4,
).map(lambda evs: "Nri1/" + "/".join("%s%03d" % e for e in evs))
KEYS = st.sampled_from([None, bytes(range(16)), bytes(range(24)), bytes(range(32))])


@settings(max_examples=200, deadline=None)
@given(account=ACCOUNTS, seq=st.integers(0, 9999), cid=CID, sia=SIA, use_sia=st.booleans(), key=KEYS,
       offset=st.integers(-20, 40))
def test_encode_then_judge_round_trip(
    account: str, seq: int, cid: str, sia: str, use_sia: bool, key: bytes | None, offset: int
) -> None:
    data = sia if use_sia else cid
    kind = "SIA-DCS" if use_sia else "ADM-CID"
    raw = encode_message(kind, seq, account, data, timestamp=T0, key=key)
    # Received up to 40 s after the panel's clock, or 20 s before it: inside the window.
    verdict = judge(raw, lambda a: key if a == account else None, T0 + timedelta(seconds=offset))
    assert verdict.message is not None, verdict.reason
    m = verdict.message
    got = (m.account, m.frame.seq, m.frame.encrypted, m.timestamp)
    assert got == (account, "%04d" % seq, key is not None, T0)
    codes = [e.code for e in m.events]
    if use_sia:
        assert codes == [tok[:2] for tok in data[5:].split("/")]
    else:
        assert codes == [data[:4]]


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 200), replacement=st.integers(0x20, 0x7E))
def test_a_changed_byte_is_never_a_different_message(position: int, replacement: int) -> None:
    raw = encode_message("ADM-CID", 42, "1234", "1130 01 005", timestamp=T0)
    body = bytearray(raw[1:-1])
    position %= len(body)
    if body[position] == replacement:
        return
    body[position] = replacement
    verdict = judge(bytes(body), lambda a: None, T0)
    if verdict.message is not None:  # only a change in the length field passes: the CRC decides
        assert 4 <= position < 8
        assert [e.code for e in verdict.message.events] == ["1130"]
