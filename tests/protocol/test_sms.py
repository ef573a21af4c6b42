"""SMS encoding: byte vectors in, whole objects out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ProtocolError
from protocol.sms import (
    Concat,
    DecodedSubmit,
    Encoding,
    Final,
    Reason,
    Registration,
    Split,
    SubmitPdu,
    check_number,
    decode_submit_pdu,
    encoding_for,
    from_ucs2_hex,
    pack_septets,
    parse_cmgs,
    parse_cpin,
    parse_final,
    parse_registration,
    split,
    submit_pdu,
    submit_pdus,
    to_septets,
    ucs2_hex,
    unpack_septets,
)


def test_septet_packing_matches_the_classic_vector() -> None:
    # "hellohello" from the GSM 03.40 tutorials.
    assert pack_septets(to_septets("hellohello")) == bytes.fromhex("E8329BFD4697D9EC37")
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10) == to_septets("hellohello")


def test_extension_characters_take_an_escape_pair() -> None:
    assert to_septets("{€}") == [0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29]


def test_alphabet_choice() -> None:
    assert encoding_for("Panic at Dongcun @ 08:00 [case 12]") is Encoding.GSM7
    assert encoding_for("紧急求助") is Encoding.UCS2
    assert encoding_for("ü é à Ä") is Encoding.GSM7
    assert encoding_for("emoji 🚨") is Encoding.UCS2


def test_single_gsm7_submit_pdu() -> None:
    assert submit_pdu("+46708251358", "hellohello", Encoding.GSM7) == SubmitPdu(
        "0001000B916407281553F800000AE8329BFD4697D9EC37", 22
    )


def test_national_number_and_ucs2_submit_pdu() -> None:
    # 报警 = U+62A5 U+8B66; 5 digits padded with F; type 0x81 (unknown/national).
    assert submit_pdu("10086", "报警", Encoding.UCS2) == SubmitPdu("00010005810180F6000804" + "62A58B66", 14)


def test_reads_a_pdu_with_a_validity_period() -> None:
    assert decode_submit_pdu("0011000B916407281553F80000AA0AE8329BFD4697D9EC37") == DecodedSubmit(
        "+46708251358", "hellohello", Encoding.GSM7, None
    )


def test_concatenated_gsm7_parts_carry_the_header_and_the_fill_bit() -> None:
    text = "A" * 153 + "B" * 10
    parts, pdus = submit_pdus("+8613800138000", text, reference=0x2A)
    assert parts == Split(Encoding.GSM7, ("A" * 153, "B" * 10), False)
    first = bytes.fromhex(pdus[0].hex)
    # SMSC 00, first octet 0x41 (SUBMIT + UDHI), ..., UDL 160 septets, UDH 05 00 03 2A 02 01.
    assert first[1] == 0x41
    assert first[pdus[0].hex.index("050003") // 2 - 1] == 160
    assert "0500032A0201" in pdus[0].hex
    assert [decode_submit_pdu(p.hex) for p in pdus] == [
        DecodedSubmit("+8613800138000", "A" * 153, Encoding.GSM7, Concat(0x2A, 2, 1)),
        DecodedSubmit("+8613800138000", "B" * 10, Encoding.GSM7, Concat(0x2A, 2, 2)),
    ]
    assert [p.tpdu_length for p in pdus] == [len(bytes.fromhex(p.hex)) - 1 for p in pdus]


def test_chinese_splits_in_67_unit_parts() -> None:
    text = "紧急求助" * 20  # 80 units: more than 70, two parts
    result = split(text)
    assert result == Split(Encoding.UCS2, (text[:67], text[67:]), False)


def test_a_surrogate_pair_is_never_cut() -> None:
    text = "警" * 66 + "🚨" + "警" * 10
    result = split(text)
    assert result.parts == ("警" * 66, "🚨" + "警" * 10)


def test_an_escape_pair_is_never_cut() -> None:
    text = "a" * 152 + "€" + "b" * 10
    assert split(text).parts == ("a" * 152, "€" + "b" * 10)


def test_past_the_part_limit_the_text_is_cut_at_a_word_with_a_mark() -> None:
    words = " ".join(["alarm"] * 200)
    result = split(words, max_parts=2)
    assert result.truncated
    assert result.encoding is Encoding.GSM7
    joined = "".join(result.parts)
    assert joined.endswith("alarm...")
    assert len(joined) <= 2 * 153
    assert words.startswith(joined[:-3])


def test_truncated_chinese_ends_with_an_ellipsis() -> None:
    result = split("守望" * 200, max_parts=1)
    assert result == Split(Encoding.UCS2, ("守望" * 34 + "守…",), True)


def test_bad_part_limit_and_numbers_are_refused() -> None:
    with pytest.raises(ProtocolError) as exc:
        split("x", max_parts=0)
    assert exc.value.reason == "bad_parts"
    for bad in ("", "12", "+86 138", "abc12345", "+" + "1" * 21):
        with pytest.raises(ProtocolError) as exc:
            check_number(bad)
        assert exc.value.reason == "bad_number"
    assert check_number("+8613800138000") == "+8613800138000"


def test_a_part_too_long_for_one_pdu_is_refused() -> None:
    with pytest.raises(ProtocolError) as exc:
        submit_pdu("10086", "x" * 161, Encoding.GSM7)
    assert exc.value.reason == "too_long"
    with pytest.raises(ProtocolError) as exc:
        submit_pdu("10086", "警" * 71, Encoding.UCS2)
    assert exc.value.reason == "too_long"


def test_bad_pdus_are_refused() -> None:
    for value, reason in (("zz", "bad_pdu"), ("0001", "bad_pdu"), ("0004000B91", "bad_pdu")):
        with pytest.raises(ProtocolError) as exc:
            decode_submit_pdu(value)
        assert exc.value.reason == reason


def test_ucs2_hex_for_text_mode() -> None:
    assert ucs2_hex("+86报警") == "002B0038003662A58B66"
    assert from_ucs2_hex("002B0038003662A58B66") == "+86报警"
    with pytest.raises(ProtocolError) as exc:
        from_ucs2_hex("00ZZ")
    assert exc.value.reason == "bad_ucs2"


@pytest.mark.parametrize(
    ("line", "final"),
    [
        ("OK", Final(True, line="OK")),
        ("ERROR", Final(False, Reason.MODEM_ERROR, None, "ERROR")),
        ("+CMS ERROR: 330", Final(False, Reason.NO_SMSC, 330, "+CMS ERROR: 330")),
        ("+CMS ERROR: 331", Final(False, Reason.NO_NETWORK, 331, "+CMS ERROR: 331")),
        ("+CMS ERROR: 310", Final(False, Reason.NO_SIM, 310, "+CMS ERROR: 310")),
        ("+CMS ERROR: 21", Final(False, Reason.REJECTED, 21, "+CMS ERROR: 21")),
        ("+CMS ERROR: 999", Final(False, Reason.MODEM_ERROR, 999, "+CMS ERROR: 999")),
        ("+CME ERROR: 10", Final(False, Reason.NO_SIM, 10, "+CME ERROR: 10")),
        ("+CME ERROR: 11", Final(False, Reason.SIM_LOCKED, 11, "+CME ERROR: 11")),
        ("+CME ERROR: SIM not inserted", Final(False, Reason.NO_SIM, 10, "+CME ERROR: SIM not inserted")),
        ("+CME ERROR: something odd", Final(False, Reason.MODEM_ERROR, None, "+CME ERROR: something odd")),
        ("+CMGS: 12", None),
        ('+CMTI: "SM",3', None),
        ("AT+CMGF=1", None),
    ],
)
def test_final_result_lines(line: str, final: Final | None) -> None:
    assert parse_final(line) == final


def test_registration_sim_and_reference_lines() -> None:
    assert parse_registration("+CREG: 0,1") == Registration(1)
    assert parse_registration('+CEREG: 2,5,"1A2B","01C3",7') == Registration(5)
    assert parse_registration("+CREG: 3") == Registration(3)
    assert parse_registration("OK") is None
    assert [Registration(s).registered for s in range(6)] == [False, True, False, False, False, True]
    assert parse_cpin("+CPIN: READY") is None
    assert parse_cpin("+CPIN: SIM PIN") is Reason.SIM_LOCKED
    assert parse_cpin("+CPIN: NOT INSERTED") is Reason.NO_SIM
    with pytest.raises(ProtocolError):
        parse_cpin("+CREG: 0,1")
    assert parse_cmgs("+CMGS: 17") == 17
    assert parse_cmgs("OK") is None


@given(st.text(max_size=700))
def test_any_text_round_trips_through_its_pdus(text: str) -> None:
    parts, pdus = submit_pdus("+8613800138000", text, reference=200, max_parts=255)
    decoded = [decode_submit_pdu(p.hex) for p in pdus]
    assert "".join(d.text for d in decoded) == text
    assert not parts.truncated
    assert all(d.encoding is parts.encoding for d in decoded)
