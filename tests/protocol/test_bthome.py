from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol.bthome import BthomeAdvert, decode_bthome, encrypt_payload
from protocol.errors import ProtocolError

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "bthome.json").read_text())


@pytest.mark.parametrize("vector", VECTORS, ids=[v["service_data_hex"] for v in VECTORS])
def test_reference_vectors(vector: dict[str, Any]) -> None:
    key = bytes.fromhex(vector["bindkey"]) if vector["bindkey"] else None
    advert = decode_bthome(bytes.fromhex(vector["service_data_hex"]), vector["address"], key)
    assert advert.values == vector["values"]
    assert advert.events == vector["events"]
    assert advert.mac == vector["address"]
    assert advert.encrypted == (key is not None)


def test_whole_objects() -> None:
    assert decode_bthome(bytes.fromhex("40005201643a01"), "a4:c1:38:8d:18:b2", None) == BthomeAdvert(
        mac="A4:C1:38:8D:18:B2", encrypted=False, counter=None, packet_id=82, trigger_based=False,
        values={"packet_id": 82, "battery": 100}, events={"button": "press"})
    assert decode_bthome(bytes.fromhex("4187b90011223372b0231f"), "54:48:E6:8F:80:A5",
                         bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")) == BthomeAdvert(
        mac="54:48:E6:8F:80:A5", encrypted=True, counter=0x33221100, packet_id=None, trigger_based=False,
        values={"motion": True}, events={})


def test_encrypt_round_trip_and_counter() -> None:
    key = bytes(range(16))
    data = encrypt_payload(bytes.fromhex("00070163" "3a01"), "A4:C1:38:00:00:01", key, counter=4242)
    advert = decode_bthome(data, "A4:C1:38:00:00:01", key)
    assert (advert.counter, advert.packet_id, advert.values, advert.events) == (
        4242, 7, {"packet_id": 7, "battery": 99}, {"button": "press"})


def test_reference_ciphertext_is_reproduced() -> None:
    key = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
    assert encrypt_payload(bytes.fromhex("2101"), "54:48:E6:8F:80:A5", key, 0x33221100).hex() == \
        "4187b90011223372b0231f"


@pytest.mark.parametrize(
    ("hexdata", "mac", "key", "reason"),
    [
        ("", "A4:C1:38:8D:18:B2", None, "not_bthome"),
        ("023a01", "A4:C1:38:8D:18:B2", None, "not_bthome"),
        ("4187b90011223372b0231f", "54:48:E6:8F:80:A5", None, "no_key"),
        ("4187b90011223372b0231f", "54:48:E6:8F:80:A5", bytes(16), "bad_mic"),
        ("4187b90011223372b0231e", "54:48:E6:8F:80:A5", bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932"),
         "bad_mic"),
        ("4187b90011223372b0231f", "54:48:E6:8F:80:A6", bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932"),
         "bad_mic"),
        ("4041", "A4:C1:38:8D:18:B2", None, "truncated"),
        ("4002", "A4:C1:38:8D:18:B2", None, "truncated"),
        ("40ee01", "A4:C1:38:8D:18:B2", None, "undecodable"),
        ("403a01", "not-a-mac", None, "bad_mac"),
        ("41000102", "54:48:E6:8F:80:A5", bytes(16), "truncated"),
    ],
)
def test_rejections(hexdata: str, mac: str, key: bytes | None, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_bthome(bytes.fromhex(hexdata), mac, key)
    assert err.value.reason == reason


def test_more_objects() -> None:
    data = bytes.fromhex("40" "2b01" "5301" "41" "3c0103" "45e0ff" "0c280a")
    adv = decode_bthome(data, "A4:C1:38:8D:18:B2", None)
    assert adv.values == {"tamper": True, "text": "A", "temperature": -3.2, "voltage": 2.6}
    assert adv.events == {"dimmer": "rotate_left_3"}
