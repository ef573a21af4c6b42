from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import DeviceSettings, GatewaySettings, SerialSettings, load_settings
from gateway.errors import ConfigError
from mqttlink import BrokerUrl

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


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "gw-dongcun-01"', 'id = "GW 1"', "gateway.id 'GW 1' must match [a-z0-9-]{3,32}"),
        (
            'url = "mqtt://127.0.0.1:1883"',
            'url = "http://x"',
            "mqtt.url must look like mqtt://HOST:PORT or mqtts://HOST:PORT, got 'http://x'",
        ),
        (
            'url = "mqtt://127.0.0.1:1883"',
            'url = "mqtt://127.0.0.1:99999"',
            "mqtt.url bad port in 'mqtt://127.0.0.1:99999'",
        ),
        (
            'url = "mqtt://127.0.0.1:1883"',
            'url = "mqtt://127.0.0.1:1883"\nca_file = "/etc/passwd"',
            "mqtt: ca_file needs an mqtts:// url",
        ),
        (
            'url = "mqtt://127.0.0.1:1883"',
            'url = "mqtts://127.0.0.1"\nca_file = "/nowhere/ca.pem"',
            "mqtt.ca_file '/nowhere/ca.pem' does not exist",
        ),
        (
            "resend_after_s = 5.0",
            "resend_after_s = -1",
            "mqtt.resend_after_s: input should be greater than or equal to 0.05, got -1",
        ),
        (
            "resend_after_s = 5.0",
            'resend_after_s = "5"',
            "mqtt.resend_after_s: input should be a valid number, got '5'",
        ),
        (
            "resend_after_s = 5.0",
            "resend_after_s = true",
            "mqtt.resend_after_s: input should be a valid number, got True",
        ),
        (
            'username = ""',
            'username = "gw"\npassword = "changeme"',
            "mqtt.password is a well-known default; set a real secret",
        ),
        ('username = ""', 'password = "s3cr3t-long"', "mqtt: password is set but username is empty"),
        (
            'id = "sn-00a3"',
            'id = "button-1"',
            "devices[0].id 'button-1' is not a device id (sn-…, ble-…, rf-…)",
        ),
        ('model = "sw-panic-button"', 'key = "00ff"', "devices[0].key must be 32 hex digits (AES-128)"),
        (
            'model = "sw-panic-button"',
            'kind = "boom"',
            "devices[0].kind 'boom' is not an event kind (battery_ok, ",
        ),
        (
            "baudrate = 115200",
            "baudrate = 0",
            "serial[0].baudrate: input should be greater than or equal to 300, got 0",
        ),
        ("baudrate = 115200", "baud = 9600", "unknown key in serial[0]: baud"),
        (
            "baudrate = 115200",
            'kind = "zigbee"',
            "serial[0].kind: input should be 'node' or 'rflink', got 'zigbee'",
        ),
        ('prefix = "sw/v1"', 'prefix = "sw/#"', "mqtt.prefix 'sw/#' is not a valid topic prefix"),
        (
            'prefix = "sw/v1"',
            'prefix = "sw/v1"\n[outbox]\nbatch_size = 501',
            "outbox.batch_size: input should be less than or equal to 500, got 501",
        ),
        (
            'prefix = "sw/v1"',
            'prefix = "sw/v1"\n[rtl433]\ncommand = "rtl_433 -F json"',
            "rtl433.command must be an array",
        ),
        (
            'prefix = "sw/v1"',
            'prefix = "sw/v1"\n[outputs]\nsiren = ["gpioset", ""]',
            "outputs.siren[1]: string should have at least 1 character, got ''",
        ),
        (
            'prefix = "sw/v1"',
            'prefix = "sw/v1"\n[ble]\nenabled = 1',
            "ble.enabled: input should be a valid boolean, got 1",
        ),
    ],
)
def test_each_bad_value_is_named_where_the_file_has_it(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in SAMPLE
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, SAMPLE.replace(old, new, 1)))
    assert str(err.value).startswith(message)


def test_a_table_that_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^outbox must be a table$"):
        load_settings(write(tmp_path, "outbox = 5\n" + SAMPLE))
    with pytest.raises(ConfigError, match=r"^serial must be an array; unknown key in the file: x$"):
        load_settings(write(tmp_path, 'serial = "/dev/ttyUSB0"\n' + SAMPLE.replace("[[serial]]", "[x]")))


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    text = SAMPLE.replace("baudrate = 115200", "baudrate = 0").replace(
        "resend_after_s = 5.0", "resend_after_s = 0"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert str(err.value) == (
        "mqtt.resend_after_s: input should be greater than or equal to 0.05, got 0; "
        "serial[0].baudrate: input should be greater than or equal to 300, got 0"
    )


def test_mqtts_with_a_ca_file_and_a_login(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    text = SAMPLE.replace(
        'url = "mqtt://127.0.0.1:1883"', 'url = "mqtts://broker.example"\nca_file = "%s"' % ca
    )
    text = text.replace('username = ""', 'username = "gw-dongcun-01"\npassword = "s3cr3t-long"')
    s = load_settings(write(tmp_path, text))
    assert s.mqtt.broker == BrokerUrl(
        "broker.example", 8883, tls=True, ca_file=str(ca), username="gw-dongcun-01", password="s3cr3t-long"
    )


def test_settings_built_in_code_are_validated_too() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        GatewaySettings(
            "gw-test-01", Path("data"), devices=(DeviceSettings("sn-01"), DeviceSettings("sn-01"))
        )
    with pytest.raises(ValueError, match="must match"):
        GatewaySettings("GW", Path("data"))
    with pytest.raises(ValueError, match="greater than or equal to 300"):
        SerialSettings("/dev/ttyUSB0", 0)


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
