"""Station actions and staff PIN hashes on the wire: byte vectors in, whole objects out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocol.actions import (
    ActionResult,
    StationAction,
    decode_action_results,
    decode_actions,
    encode_action_results,
    encode_actions,
)
from protocol.errors import ProtocolError
from protocol.pins import check_pin, check_staff_name, hash_pin, parse_pin_hash, verify_pin
from protocol.topics import Topics

AID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AID2 = "00000000000000000000000000000001"
AT = datetime(2026, 11, 23, 8, 0, 5, 250000, tzinfo=UTC)

# --- PINs ---------------------------------------------------------------------------------------

# Reproduced with cryptography's PBKDF2HMAC (SHA-256, 32 bytes) for the same PIN, salt and count.
PIN_VECTOR = "pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODw$GgjWCG9tx_ZuEBPQdwdLZH6ofwGkpLjHezyaXuDmorE"


def test_pin_hash_vector() -> None:
    assert hash_pin("2468", salt=bytes(range(16)), iterations=10_000) == PIN_VECTOR
    assert parse_pin_hash(PIN_VECTOR) == (10_000, bytes(range(16)), bytes.fromhex(
        "1a08d6086f6dc7f66e1013d077074b647ea87f01a4a4b8c77b3c9a5ee0e6a2b1"))
    assert verify_pin("2468", PIN_VECTOR) is True
    assert verify_pin("2469", PIN_VECTOR) is False


def test_new_hashes_are_salted() -> None:
    one, two = hash_pin("805931"), hash_pin("805931")
    assert one != two
    assert verify_pin("805931", one) and verify_pin("805931", two)
    assert one.startswith("pbkdf2-sha256$120000$")


@pytest.mark.parametrize("stored", [
    "",
    "scrypt$16384$8$1$AAAA$BBBB",
    "pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODw",  # no digest
    "pbkdf2-sha256$9999$AAECAwQFBgcICQoLDA0ODw$GgjWCG9tx_ZuEBPQdwdLZH6ofwGkpLjHezyaXuDmorE",  # too few rounds
    "pbkdf2-sha256$2000001$AAECAwQFBgcICQoLDA0ODw$GgjWCG9tx_ZuEBPQdwdLZH6ofwGkpLjHezyaXuDmorE",
    "pbkdf2-sha256$10000$AAEC$GgjWCG9tx_ZuEBPQdwdLZH6ofwGkpLjHezyaXuDmorE",  # salt too short
    "pbkdf2-sha256$10000$AAECAwQFBgcICQoLDA0ODw$GgjWCG9t",  # digest too short
    "pbkdf2-sha256$ten$AAECAwQFBgcICQoLDA0ODw$GgjWCG9tx_ZuEBPQdwdLZH6ofwGkpLjHezyaXuDmorE",
])
def test_malformed_hashes_match_nothing(stored: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_pin_hash(stored)
    assert err.value.reason == "bad_pin_hash"
    assert verify_pin("2468", stored) is False


def test_non_ascii_pin_never_matches() -> None:
    assert verify_pin("２４６８", PIN_VECTOR) is False  # full-width digits


@pytest.mark.parametrize(("pin", "reason"), [
    ("123", "bad_pin"), ("123456789", "bad_pin"), ("12a4", "bad_pin"), ("", "bad_pin"),
    ("２４６８", "bad_pin"), ("0000", "weak_pin"), ("777777", "weak_pin"), ("1234", "weak_pin"),
    ("8901", "weak_pin"), ("987654", "weak_pin"), ("3210", "weak_pin"),
])
def test_pin_rules(pin: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        check_pin(pin)
    assert err.value.reason == reason


def test_good_pins_pass() -> None:
    assert [check_pin(p) for p in ("2468", "805931", "13572468", "1123")] == [
        "2468", "805931", "13572468", "1123"]


@pytest.mark.parametrize("name", ["", " 王芳", "王芳 ", "a\nb", "x" * 33, "tab\there"])
def test_staff_name_rules(name: str) -> None:
    with pytest.raises(ProtocolError) as err:
        check_staff_name(name)
    assert err.value.reason == "bad_name"


def test_staff_names_pass() -> None:
    assert check_staff_name("王芳") == "王芳"
    assert check_staff_name("Li Wei") == "Li Wei"


# --- actions ------------------------------------------------------------------------------------

def test_topics() -> None:
    t = Topics()
    assert t.actions("gw-dongcun-01") == "sw/v1/gw/gw-dongcun-01/actions"
    assert t.actions_ack("gw-dongcun-01") == "sw/v1/gw/gw-dongcun-01/actions/ack"
    assert t.parse_gateway("sw/v1/gw/gw-dongcun-01/actions").channel == "actions"
    assert t.parse_gateway("sw/v1/gw/gw-dongcun-01/actions/ack").channel == "actions/ack"


def test_encode_actions_bytes() -> None:
    going = StationAction(AID, "gw-dongcun-01:42", "going", "王芳", AT)
    handled = StationAction(AID2, "gw-dongcun-01:42", "handled", "王芳", AT, note="老人摔倒，已送医")
    assert encode_actions([going, handled]) == (
        '[{"v":1,"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","event":"gw-dongcun-01:42","action":"going",'
        '"by":"王芳","at":"2026-11-23T08:00:05.250Z"},'
        '{"v":1,"id":"00000000000000000000000000000001","event":"gw-dongcun-01:42","action":"handled",'
        '"by":"王芳","at":"2026-11-23T08:00:05.250Z","note":"老人摔倒，已送医"}]'
    ).encode()


def test_decode_actions_keeps_good_and_names_bad() -> None:
    payload = (
        '[{"v":1,"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","event":"gw-dongcun-01:42","action":"going",'
        '"by":"王芳","at":"2026-11-23T08:00:05.250Z","extra":"ignored"},'
        '{"v":1,"id":"00000000000000000000000000000001","event":"gw-xicun-01:7","action":"going",'
        '"by":"王芳","at":"2026-11-23T08:00:05.250Z"},'
        '{"v":1,"id":"00000000000000000000000000000002","event":"gw-dongcun-01:43","action":"dance",'
        '"by":"王芳","at":"2026-11-23T08:00:05.250Z"},'
        '{"v":2,"id":"nope"},'
        '{"v":1,"id":"00000000000000000000000000000003","event":"gw-dongcun-01:44","action":"going",'
        '"by":"","at":"2026-11-23T08:00:05.250Z"},'
        '{"v":1,"id":"00000000000000000000000000000004","event":"gw-dongcun-01:44","action":"going",'
        '"by":"王芳","at":"yesterday"}]'
    ).encode()
    got = decode_actions(payload, "gw-dongcun-01")
    assert got.actions == [StationAction(AID, "gw-dongcun-01:42", "going", "王芳", AT)]
    assert [(i, ident, e.reason) for i, ident, e in got.rejected] == [
        (1, "00000000000000000000000000000001", "wrong_gateway"),
        (2, "00000000000000000000000000000002", "bad_action"),
        (3, None, "bad_version"),
        (4, "00000000000000000000000000000003", "bad_action"),
        (5, "00000000000000000000000000000004", "bad_time"),
    ]


@pytest.mark.parametrize("payload", [b"{}", b"[]", b"not json", b"[" + b'{"v":1},' * 100 + b'{"v":1}]'])
def test_decode_actions_refuses_batches(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_actions(payload, "gw-dongcun-01")
    assert err.value.reason in ("bad_batch", "bad_json")


def test_encode_actions_limits() -> None:
    with pytest.raises(ProtocolError):
        encode_actions([])
    one = StationAction(AID, "gw-dongcun-01:42", "going", "王芳", AT)
    with pytest.raises(ProtocolError):
        encode_actions([one] * 101)


@pytest.mark.parametrize("kwargs", [
    {"id": "short"}, {"event": "no-seq"}, {"verb": "accept"}, {"by": " x"}, {"note": "n" * 501},
    {"at": datetime(2026, 11, 23, 8, 0)},
])
def test_action_fields_checked(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"id": AID, "event": "gw-dongcun-01:42", "verb": "going", "by": "王芳",
                                 "at": AT}
    fields.update(kwargs)
    with pytest.raises(ProtocolError) as err:
        StationAction(**fields)  # type: ignore[arg-type]
    assert err.value.reason == "bad_action"


def test_results_round_trip_bytes() -> None:
    results = [
        ActionResult(AID, True, extra={"case": 12, "state": "accepted"}),
        ActionResult(AID2, False, "case_closed", {"detail": "closed by duty-t03"}),
    ]
    payload = encode_action_results(results)
    assert payload == (
        b'{"results":[{"case":12,"state":"accepted","id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","ok":true},'
        b'{"detail":"closed by duty-t03","id":"00000000000000000000000000000001","ok":false,'
        b'"reason":"case_closed"}]}'
    )
    assert decode_action_results(payload) == results


@pytest.mark.parametrize("payload", [
    b"[]", b'{"results":{}}', b'{"results":[1]}', b'{"results":[{"id":"x","ok":true}]}',
    b'{"results":[{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","ok":1}]}',
    b'{"results":[{"id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","ok":false,"reason":5}]}', b"\xff",
])
def test_bad_results_refused(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_action_results(payload)
    assert err.value.reason in ("bad_action_ack", "bad_json")

