"""The gateway runs with the one device catalog or not at all: a catalog that does not load, or
a device naming a model it lacks, stops the start-up, the reload, pairing and ``decode`` with
a message naming the file and field or the device."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.catalog import load_device_catalog
from gateway.config import DeviceSettings, load_settings
from gateway.daemon import Gateway
from gateway.errors import ConfigError, GatewayError
from gateway.tools import add_device, run_decode
from hardware.catalog import CATALOG_DIR
from protocol import serial_line as sl
from shouwang.processes import free_port
from tests.gateway.gw_support import settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway" / "deploy" / "gateway.example.toml"
MODELS = ("bthome-motion, bthome-smoke, ev1527-door, ev1527-panic, fineoffset-wh55, kerui-door, "
          "kerui-pir, kerui-security, kerui-water-leak, rflink-pir, rflink-smoke-alarm, sc2260-keyfob, "
          "shelly-blu-button1, shelly-blu-door-window, sia-panel, sw-door-sensor, sw-door-sensor-ble, "
          "sw-panic-button, sw-panic-button-ble, sw-rf-bridge")


def broken_catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir()
    for path in CATALOG_DIR.glob("*.toml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    door = folder / "ev1527-door.toml"
    door.write_text(door.read_text(encoding="utf-8").replace('"03" = "door_close"', '"03" = "door_shut"'),
                    encoding="utf-8")
    return folder


def test_a_catalog_that_does_not_load_stops_the_gateway(tmp_path: Path) -> None:
    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port())
    with pytest.raises(ConfigError) as err:
        Gateway(s, catalog_dir=broken_catalog(tmp_path))
    assert str(err.value) == (
        "the device catalog cannot be loaded: ev1527-door.toml: field 'events.03': unknown kind 'door_shut' "
        "(one of panic, panic_cancel, medical, fire, intrusion, door_open, door_close, tamper, "
        "tamper_restore, low_battery, battery_ok, device_missing, device_back, heartbeat, test, or 'ignore')")
    assert not (tmp_path / "data" / "outbox.db").exists()  # stopped before anything ran


def test_a_missing_or_empty_catalog_stops_the_gateway(tmp_path: Path) -> None:
    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port())
    with pytest.raises(ConfigError) as err:
        Gateway(s, catalog_dir=tmp_path / "nowhere")
    assert str(err.value) == ("the device catalog cannot be loaded: catalog folder %s does not exist"
                              % (tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as err:
        Gateway(s, catalog_dir=tmp_path / "empty")
    assert str(err.value) == ("the device catalog cannot be loaded: catalog folder %s holds no model (*.toml)"
                              % (tmp_path / "empty"))


@pytest.mark.parametrize(
    ("device", "problem"),
    [
        (DeviceSettings("ble-a4c1388d18b2", "按钮", model="sw-ble-button"),
         "ble-a4c1388d18b2: model 'sw-ble-button' is not in the device catalog (%s has %s)"
         % (CATALOG_DIR, MODELS)),
        (DeviceSettings("sn-00a3", "按钮", model="shelly-blu-button1"),
         "sn-00a3 is a serial device but model shelly-blu-button1 is a ble model"),
        (DeviceSettings("rf-ev1527-013cd0", "遥控器", model="sc2260-keyfob"),
         "rf-ev1527-013cd0: model sc2260-keyfob does not speak ev1527 (it speaks pt2262, genericremote)"),
        (DeviceSettings("ble-a4c1388d18b2", "按钮"),
         'ble-a4c1388d18b2 has neither a model (model = "...", from the device catalog) nor an event kind '
         '(kind = "panic"...): nothing it sends could raise an alarm'),
    ],
)
def test_a_device_the_catalog_cannot_serve_stops_the_gateway(tmp_path: Path, device: DeviceSettings,
                                                              problem: str) -> None:
    ok = DeviceSettings("rf-ev1527-045a42", "挂件", kind="panic")
    with pytest.raises(ConfigError) as err:
        Gateway(replace(settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port()), devices=(ok, device)))
    assert str(err.value) == "devices do not match the device catalog: " + problem


def test_the_shipped_example_config_passes_the_start_up_check() -> None:
    catalog = load_device_catalog(load_settings(EXAMPLE).devices)
    assert catalog.folder == CATALOG_DIR
    assert sorted(catalog) == MODELS.split(", ")


def test_gateway_run_exits_with_the_reason(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[gateway]\nid = "gw-test-01"\ndata_dir = "data"\n'
                    '[[devices]]\nid = "sn-00a3"\nname = "a"\nmodel = "sw-ble-button"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SHOUWANG_GATEWAY_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "run", "--config", str(conf)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        "error: devices do not match the device catalog: sn-00a3: model 'sw-ble-button' is not in the device "
        "catalog (%s has %s)\n" % (CATALOG_DIR, MODELS))
    assert not (tmp_path / "data").exists()


def test_reload_naming_an_unknown_model_keeps_the_old_device_list(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    head = ('[gateway]\nid = "gw-test-01"\ndata_dir = "data"\n[mqtt]\nurl = "mqtt://127.0.0.1:%d"\n'
            % free_port())
    conf.write_text(head + '[[devices]]\nid = "sn-00a3"\nname = "a"\nmodel = "sw-panic-button"\n',
                    encoding="utf-8")
    gw = Gateway(load_settings(conf))
    try:
        conf.write_text(head + '[[devices]]\nid = "sn-00a3"\nname = "a"\nmodel = "sw-ble-button"\n',
                        encoding="utf-8")
        with pytest.raises(ConfigError, match=r"^devices do not match the device catalog: sn-00a3: model "):
            gw.reload()
        assert gw.registry.known() == [DeviceSettings("sn-00a3", "a", model="sw-panic-button")]
    finally:
        gw.stop()


def test_pairing_a_model_the_catalog_lacks_leaves_the_config_unchanged(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    text = '[gateway]\nid = "gw-test-01"\ndata_dir = "data"\n'
    conf.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        add_device(conf, "ble-a4c1388d18b2", "按钮", model="shelly-blu-button")
    assert str(err.value) == (
        "devices do not match the device catalog: ble-a4c1388d18b2: model 'shelly-blu-button' is not in the "
        "device catalog (%s has %s)" % (CATALOG_DIR, MODELS))
    assert conf.read_text(encoding="utf-8") == text
    paired = add_device(conf, "ble-a4c1388d18b2", "按钮", model="shelly-blu-button1")
    assert paired.devices == (DeviceSettings("ble-a4c1388d18b2", "按钮", model="shelly-blu-button1"),)


def test_decode_refuses_a_config_the_gateway_would_refuse(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[gateway]\nid = "gw-test-01"\ndata_dir = "data"\n'
                    '[[devices]]\nid = "ble-a4c1388d18b2"\nname = "a"\nmodel = "sw-ble-button"\n',
                    encoding="utf-8")
    with pytest.raises(GatewayError, match=r"^devices do not match the device catalog: ble-a4c1388d18b2: "):
        run_decode("ble", "A4:C1:38:8D:18:B2", None, load_settings(conf), ["40005201643a01"], sys.stdout)


def test_decode_splits_a_bridge_code_as_the_gateway_does(tmp_path: Path) -> None:
    line = sl.encode(sl.SerialRfCode("00b1", 4, "ev1527", "13cd03", {"bits": 24, "tri": "0F01101F0001"}))
    text = line.decode("ascii")
    out = io.StringIO()
    run_decode("serial", None, None, None, [text], out)
    # No config: both readings the catalog allows, for the technician to pair the right one;
    # like the gateway's rows, each names the bridge that heard it.
    assert [json.loads(row) for row in out.getvalue().splitlines()] == [
        {"line": 1, "device": "rf-ev1527-013cd0", "kind": None, "data": {"code": "03", "bridge": "sn-00b1"}},
        {"line": 1, "device": "rf-pt2262-13cd", "kind": None, "data": {"code": "03", "bridge": "sn-00b1"}},
    ]
    conf = tmp_path / "gw.toml"
    conf.write_text('[gateway]\nid = "gw-test-01"\ndata_dir = "data"\n'
                    '[[devices]]\nid = "rf-pt2262-13cd"\nname = "遥控器"\nmodel = "sc2260-keyfob"\n',
                    encoding="utf-8")
    out = io.StringIO()
    run_decode("serial", None, None, load_settings(conf), [text], out)
    assert [json.loads(row) for row in out.getvalue().splitlines()] == [
        {"line": 1, "device": "rf-pt2262-13cd", "kind": "panic", "data": {"code": "03", "bridge": "sn-00b1"}}]


def test_devices_without_a_model_are_named_at_start_as_unsupervised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings(tmp_path, "mqtt://127.0.0.1:%d" % free_port())
    s = replace(s, devices=(DeviceSettings("sn-00a3", "a", model="sw-panic-button"),
                            DeviceSettings("sn-00a4", "b"),
                            DeviceSettings("ble-a4c1388d18b2", "c", kind="panic")))
    with caplog.at_level("WARNING", logger="gateway.daemon"):
        gw = Gateway(s)
    gw.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.daemon"] == [
        "no model, so not supervised (a silent device raises no alarm): sn-00a4, ble-a4c1388d18b2; name each"
        " one's model from the device catalog"]
