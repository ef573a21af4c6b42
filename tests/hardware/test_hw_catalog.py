"""The device catalog: every shipped file loads, maps the real vectors to the right kinds,
agrees with what the firmware does, and a malformed file is refused with a message naming the
file and the field. The gateway, the server and the decode tool load this one catalog."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import hardware.catalog
from gateway.catalog import load_device_catalog
from hardware.catalog import CATALOG_DIR, Catalog, CatalogError, load_catalog, switch_token
from protocol.bthome import BUTTON_EVENTS, decode_bthome
from protocol.errors import ProtocolError
from protocol.kinds import Kind
from protocol.rflink import parse_rflink
from protocol.rtl433 import parse_rtl433
from server.data.devices import catalog_models
from server.errors import ConfigError

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
SHIPPED = [
    "bthome-motion",
    "bthome-smoke",
    "ev1527-door",
    "ev1527-panic",
    "fineoffset-wh55",
    "kerui-door",
    "kerui-pir",
    "kerui-security",
    "kerui-water-leak",
    "rflink-pir",
    "rflink-smoke-alarm",
    "sc2260-keyfob",
    "shelly-blu-button1",
    "shelly-blu-door-window",
    "sia-panel",
    "sw-door-sensor",
    "sw-door-sensor-ble",
    "sw-panic-button",
    "sw-panic-button-ble",
    "sw-rf-bridge",
]


def test_shipped_catalog_loads_with_every_model() -> None:
    models = load_catalog()
    assert isinstance(models, Catalog)
    assert sorted(models) == SHIPPED
    for name, model in models.items():
        assert model.model == name
        assert model.source == CATALOG_DIR / (name + ".toml")
        assert model.emits, name
        if model.heartbeat_s:
            assert model.supervision_s >= 2 * model.heartbeat_s


def test_gateway_server_and_decode_load_the_same_catalog() -> None:
    catalog_models.cache_clear()
    assert sorted(load_device_catalog(())) == sorted(catalog_models()) == SHIPPED


def test_server_refuses_to_guess_without_a_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware.catalog, "CATALOG_DIR", tmp_path / "gone")
    catalog_models.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            catalog_models()
        assert str(err.value) == "the device catalog cannot be loaded: catalog folder %s does not exist" % (
            tmp_path / "gone")
    finally:
        catalog_models.cache_clear()


def _firmware_ms(path: str, pattern: str) -> int:
    found = re.findall(pattern, (FIRMWARE / path).read_text(encoding="utf-8"))
    assert len(found) == 1, (path, pattern)
    return int(found[0])


def test_supervision_follows_the_firmware_heartbeat() -> None:
    """Serial nodes beat every 60 s over an acked line that is retried (five missed beats);
    BLE nodes every 300 s in adverts that are never acked and that BlueZ may lose (six)."""
    serial_ms = _firmware_ms("swnode.py", r"_HEARTBEAT_MS = const\((\d+)\)")
    ble_ms = _firmware_ms("swble.py", r"_HEARTBEAT_MS = const\((\d+)\)")
    default = r'heartbeat_ms=cfg.get\("heartbeat_ms", (\d+)\),\n        %s='  # the swconfig.json default
    assert _firmware_ms("swmain.py", default % "battery") == serial_ms
    assert _firmware_ms("swmain.py", default % "name") == ble_ms
    models = load_catalog()
    ours = {name: (m.heartbeat_s, m.supervision_s) for name, m in models.items() if name.startswith("sw-")}
    assert ours == {
        "sw-panic-button": (serial_ms // 1000, 5 * serial_ms // 1000),
        "sw-door-sensor": (serial_ms // 1000, 5 * serial_ms // 1000),
        "sw-rf-bridge": (serial_ms // 1000, 5 * serial_ms // 1000),
        "sw-panic-button-ble": (ble_ms // 1000, 6 * ble_ms // 1000),
        "sw-door-sensor-ble": (ble_ms // 1000, 6 * ble_ms // 1000),
    }


def test_our_ble_models_map_what_the_firmware_advertises() -> None:
    """firmware/swble.py sends panic as long_press, panic_cancel as double_press, test as press."""
    text = (FIRMWARE / "swble.py").read_text(encoding="utf-8")
    sent = dict(re.findall(r'"(\w+)": swbthome\.(\w+)', text))
    assert sent == {"panic": "LONG_PRESS", "panic_cancel": "DOUBLE_PRESS", "test": "PRESS"}
    button = load_catalog()["sw-panic-button-ble"]
    assert {kind: button.kind_for("button=" + press.lower()) for kind, press in sent.items()} == {
        "panic": Kind.PANIC, "panic_cancel": Kind.PANIC_CANCEL, "test": Kind.TEST}


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
    assert kinds == [[Kind.PANIC], [Kind.PANIC], [Kind.PANIC], [Kind.DOOR_OPEN]]


def test_shelly_button_raises_an_alarm_however_it_is_pressed() -> None:
    """A villager in distress presses once, twice, or holds: every press is a panic, and no
    pattern of presses cancels one."""
    button = load_catalog()["shelly-blu-button1"]
    assert {event: button.kind_for("button=" + event) for event in BUTTON_EVENTS.values()} == {
        event: Kind.PANIC for event in BUTTON_EVENTS.values()}
    assert button.emits == {Kind.PANIC}


def test_rf_split_is_the_catalogs_per_protocol() -> None:
    catalog = load_catalog()
    assert catalog.rf_protocols == {"ev1527", "pt2262", "genericremote"}
    assert catalog.rf_split("ev1527", "13cd03") == ("rf-ev1527-013cd0", "03")
    assert catalog.rf_split("pt2262", "13cd03") == ("rf-pt2262-13cd", "03")
    with pytest.raises(ProtocolError) as err:
        catalog.rf_split("kaku", "13cd03")
    assert (err.value.reason, err.value.detail) == ("unknown_protocol", "no catalog model speaks 'kaku'")
    with pytest.raises(ProtocolError) as err:
        catalog.rf_split("pt2262", "zz")
    assert (err.value.reason, err.value.detail) == ("bad_code", "pt2262 code 'zz' is not hex")


def test_unknown_model_names_the_known_ones() -> None:
    catalog = load_catalog()
    with pytest.raises(CatalogError) as err:
        catalog.model("sw-ble-button")
    assert str(err.value) == "model 'sw-ble-button' is not in the device catalog (%s has %s)" % (
        CATALOG_DIR, ", ".join(SHIPPED))


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


KINDS = ("one of panic, panic_cancel, medical, fire, intrusion, door_open, door_close, tamper, "
         "tamper_restore, low_battery, battery_ok, device_missing, device_back, heartbeat, test, or 'ignore'")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_RF.replace('"door_open"', '"explode"'),
         "field 'events.0a': unknown kind 'explode' (%s)" % KINDS),
        (GOOD_RF.replace('"0a"', '"zz"'),
         "field 'events': RF switch 'zz' is not hex (or a sensor field=value)"),
        (GOOD_RF.replace('transport = "rf"', 'transport = "zigbee"'),
         "field 'transport': Input should be 'serial', 'ble', 'rf' or 'sia'"),
        (GOOD_RF.replace('vendor = "generic"', 'vendor = "generic"\ncolour = "red"'),
         "unknown field 'colour' (a typo must not silently change an alarm mapping)"),
        (GOOD_RF.replace("switch_bits = 4", "switch_bits = 30"), "field 'rf': "
         "[rf] needs 0 < switch_bits < code_bits <= 64"),
        (GOOD_RF.replace('name_zh = "X"\n', ""), "field 'name_zh' is missing"),
        (GOOD_RF.replace('"0a" = "door_open"', '"0a" = "door_open"\n"0A" = "door_close"'),
         "field 'events': event '0A' listed twice"),
        (GOOD_RF.replace("[rf]", "heartbeat_s = 60\nsupervision_s = 61\n[rf]"),
         "supervision_s must allow at least two missed heartbeats (>= 2 x heartbeat_s)"),
        (GOOD_RF.replace("[rf]", "heartbeat_s = true\n[rf]"),
         "field 'heartbeat_s': Input should be a valid integer"),
        (GOOD_RF.replace("[rf]", "low_battery_pct = 120\n[rf]"),
         "field 'low_battery_pct': Input should be less than or equal to 99"),
        (GOOD_RF.replace("[rf]", 'kinds = ["door_open"]\n[rf]'),
         "'kinds' is derived from [events] for rf models"),
        (GOOD_RF.replace('transport = "rf"', 'transport = "ble"').replace('"0a"', '"opening=true"'),
         "[rf] is required for rf models and only for them"),
        (GOOD_RF.replace('transport = "rf"', 'transport = "serial"'),
         "serial models list native kinds in 'kinds', not [events]"),
        ("model = [", "Invalid value (at end of document)"),
    ],
)
def test_malformed_files_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    folder = write(tmp_path, "x-door.toml", text)
    with pytest.raises(CatalogError) as err:
        load_catalog(folder)
    assert str(err.value) == "x-door.toml: " + message


def test_one_protocol_has_one_split(tmp_path: Path) -> None:
    write(tmp_path, "x-door.toml", GOOD_RF)
    other = GOOD_RF.replace('"x-door"', '"y-door"').replace("switch_bits = 4", "switch_bits = 8")
    write(tmp_path, "y-door.toml", other)
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    assert str(err.value) == ("y-door.toml: field 'rf': splits ev1527 codes as 24 bits with 8 switch bits "
                              "and 4 id digits, but x-door.toml splits them as 24/4/5; "
                              "one protocol has one split")


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    assert str(err.value) == "catalog folder %s holds no model (*.toml)" % tmp_path


def test_file_name_must_match_model(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="file name must be the model name"):
        load_catalog(write(tmp_path, "other.toml", GOOD_RF))


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope")
