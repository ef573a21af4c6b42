from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import DeviceSettings, SerialSettings, load_settings
from gateway.errors import ConfigError

SAMPLE = """
[gateway]
id = "gw-dongcun-01"
data_dir = "/var/lib/shouwang"      # outbox.db lives here
[mqtt]
url = "mqtt://127.0.0.1:1883"       # mqtts:// for TLS
prefix = "sw/v1"
username = ""                        # optional; password likewise
resend_after_s = 5.0
[[serial]]
port = "/dev/ttyUSB0"
baudrate = 115200
[[devices]]                          # the allowlist
id = "sn-00a3"
name = "东村 3 号 老人呼叫按钮"
model = "sw-panic-button"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_config_loads(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, SAMPLE))
    assert s.id == "gw-dongcun-01"
    assert s.outbox_path == Path("/var/lib/shouwang/outbox.db")
    assert (s.mqtt.host, s.mqtt.port, s.mqtt.tls, s.mqtt.prefix) == ("127.0.0.1", 1883, False, "sw/v1")
    assert s.mqtt.resend_after_s == 5.0
    assert s.serial == (SerialSettings("/dev/ttyUSB0", 115200),)
    assert s.devices == (DeviceSettings("sn-00a3", "东村 3 号 老人呼叫按钮", "sw-panic-button"),)


def test_relative_data_dir_is_next_to_the_file(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, SAMPLE.replace('"/var/lib/shouwang"', '"data"')))
    assert s.data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "gw-dongcun-01"', 'id = "GW 1"', "gateway.id"),
        ('url = "mqtt://127.0.0.1:1883"', 'url = "http://x"', "mqtt.url"),
        ('url = "mqtt://127.0.0.1:1883"', 'url = "mqtt://127.0.0.1:99999"', "bad port"),
        ("resend_after_s = 5.0", "resend_after_s = -1", "resend_after_s"),
        ("resend_after_s = 5.0", 'resend_after_s = "5"', "resend_after_s"),
        ('username = ""', 'username = "gw"\npassword = "changeme"', "well-known default"),
        ('username = ""', 'password = "s3cr3t-long"', "username is empty"),
        ('id = "sn-00a3"', 'id = "button-1"', "not a device id"),
        ("baudrate = 115200", "baudrate = 0", "baudrate"),
        ("baudrate = 115200", "baud = 9600", "unknown key"),
        ('prefix = "sw/v1"', 'prefix = "sw/#"', "prefix"),
    ],
)
def test_bad_values_fail_fast(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SAMPLE
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, SAMPLE.replace(old, new, 1)))


def test_duplicate_device_and_port(tmp_path: Path) -> None:
    dup_dev = SAMPLE + '[[devices]]\nid = "sn-00a3"\n'
    with pytest.raises(ConfigError, match="listed twice"):
        load_settings(write(tmp_path, dup_dev))
    dup_port = SAMPLE + '[[serial]]\nport = "/dev/ttyUSB0"\n'
    with pytest.raises(ConfigError, match="one reader per port"):
        load_settings(write(tmp_path, dup_port))


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[gateway\n"))
    with pytest.raises(ConfigError, match=r"gateway\.id is required"):
        load_settings(write(tmp_path, "[gateway]\ndata_dir='x'\n"))


def test_shipped_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "gateway" / "deploy" / "gateway.example.toml"
    s = load_settings(example)
    assert s.id == "gw-dongcun-01"
    assert s.mqtt.tls and s.ble.enabled and s.rtl433.command[0] == "rtl_433"
    assert [p.kind for p in s.serial] == ["node", "rflink"]
    assert [d.id for d in s.devices] == ["sn-00a3", "ble-a4c1388d18b2", "rf-ev1527-045a42"]
