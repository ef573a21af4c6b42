"""The device catalog: every shipped file loads, maps the real vectors to the right kinds,
and a malformed file is refused with a message naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardware.catalog import CATALOG_DIR, CatalogError, load_catalog, switch_token
from protocol.bthome import decode_bthome
from protocol.errors import ProtocolError
from protocol.kinds import Kind
from protocol.rflink import parse_rflink
from protocol.rtl433 import parse_rtl433

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
REQUIRED = {
    "sw-panic-button",
    "sw-door-sensor",
    "sw-rf-bridge",
    "shelly-blu-button1",
    "shelly-blu-door-window",
    "ev1527-door",
    "ev1527-panic",
    "sc2260-keyfob",
}


def test_shipped_catalog_loads_with_every_required_model() -> None:
    models = load_catalog()
    assert REQUIRED <= set(models)
    for name, model in models.items():
        assert model.model == name
        assert model.source == CATALOG_DIR / (name + ".toml")
        assert model.kinds, name
        if model.heartbeat_s:
            assert model.supervision_s >= 2 * model.heartbeat_s


def test_serial_models_take_native_kinds() -> None:
    button = load_catalog()["sw-panic-button"]
    assert button.transport == "serial"
    assert button.kind_for("panic") is Kind.PANIC
    assert button.kind_for("door_open") is None  # not something a button sends
    assert button.kind_for("nonsense") is None
    assert (button.heartbeat_s, button.supervision_s) == (60, 300)


def test_ev1527_code_from_our_bridge_matches_rflink() -> None:
    door = load_catalog()["ev1527-door"]
    # Our bridge sends the whole 24-bit code; RFLink splits it into ID and SWITCH.
    assert door.rf_split("ev1527", "1e9f5b") == ("rf-ev1527-01e9f5", "0b")
    lines = (VECTORS / "rflink.txt").read_text().splitlines()
    packets = [parse_rflink(line) for line in lines if "01e9f5" in line]
    assert [(p.device_id, door.kind_for(p.code)) for p in packets] == [
        ("rf-ev1527-01e9f5", Kind.DOOR_OPEN),
        ("rf-ev1527-01e9f5", Kind.DOOR_CLOSE),
    ]
    with pytest.raises(ProtocolError):
        door.rf_split("ev1527", "1000000")  # 25 bits
    with pytest.raises(ProtocolError):
        door.rf_split("pt2262", "1e9f5b")


def test_sc2260_keyfob_from_rtl433() -> None:
    fob = load_catalog()["sc2260-keyfob"]
    packets = [parse_rtl433(line) for line in (VECTORS / "rtl_433.jsonl").read_text().splitlines()]
    assert [(p.id, fob.kind_for(p.code), fob.knows(p.code)) for p in packets] == [
        ("13cd", None, True),
        ("13cd", None, True),
        ("13cd", Kind.PANIC, True),
        ("13cd", None, True),
    ]
    # The same SOS press through our bridge: code = id << 8 | cmd.
    assert fob.rf_split("pt2262", "13cd03") == ("rf-pt2262-13cd", "03")


def test_shelly_models_map_decoded_bthome_adverts() -> None:
    models = load_catalog()
    button, door = models["shelly-blu-button1"], models["shelly-blu-door-window"]
    kinds = []
    for vector in json.loads((VECTORS / "bthome.json").read_text()):
        if not vector["name"].startswith(("SBBT-002C", "SBDW-002C")) or vector["bindkey"]:
            continue
        model = button if vector["name"].startswith("SBBT") else door
        advert = decode_bthome(bytes.fromhex(vector["service_data_hex"]), vector["address"], None)
        tokens = ["%s=%s" % (k, v) for k, v in advert.events.items()]
        tokens += ["%s=%s" % (k, str(v).lower()) for k, v in advert.values.items() if isinstance(v, bool)]
        kinds.append([model.kind_for(t) for t in tokens if model.knows(t)])
    assert kinds == [[Kind.PANIC], [Kind.TEST], [Kind.TEST], [Kind.DOOR_OPEN]]


def test_switch_tokens_are_canonical() -> None:
    assert switch_token("b") == switch_token("0B") == switch_token(11) == "0b"
    assert switch_token("c0") == "c0"


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


GOOD_RF = """
model = "x-door"
name = "X"
name_zh = "X"
vendor = "generic"
transport = "rf"
id_format = "rf-ev1527-..."
[rf]
protocols = ["ev1527"]
code_bits = 24
switch_bits = 4
[events]
"0a" = "door_open"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_RF.replace('"door_open"', '"explode"'), "unknown kind 'explode'"),
        (GOOD_RF.replace('"0a"', '"zz"'), "RF switch 'zz' is not hex"),
        (GOOD_RF.replace('transport = "rf"', 'transport = "zigbee"'), "transport 'zigbee'"),
        (
            GOOD_RF.replace('vendor = "generic"', 'vendor = "generic"\ncolour = "red"'),
            "unknown field(s) colour",
        ),
        (GOOD_RF.replace("switch_bits = 4", "switch_bits = 30"), "0 < switch_bits < code_bits"),
        (GOOD_RF.replace('name_zh = "X"\n', ""), "missing 'name_zh'"),
        (GOOD_RF.replace('"0a" = "door_open"', '"0a" = "door_open"\n"0A" = "door_close"'), "listed twice"),
        (GOOD_RF.replace("[rf]", "heartbeat_s = 60\nsupervision_s = 61\n[rf]"), "two missed heartbeats"),
        (GOOD_RF.replace("[rf]", "heartbeat_s = true\n[rf]"), "'heartbeat_s' must be int"),
        ("model = [", "x-door.toml"),
    ],
)
def test_malformed_files_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    folder = write(tmp_path, "x-door.toml", text)
    with pytest.raises(CatalogError) as err:
        load_catalog(folder)
    assert message in str(err.value)
    assert str(err.value).startswith("x-door.toml")


def test_file_name_must_match_model(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="file name must be the model name"):
        load_catalog(write(tmp_path, "other.toml", GOOD_RF))


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope")
