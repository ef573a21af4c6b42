"""One TOML file -> a frozen settings object; every bad value fails at load time."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from mqttlink import BrokerUrl, UrlError
from protocol.errors import ProtocolError
from protocol.ids import check_device_id, check_gateway_id
from protocol.kinds import KINDS
from protocol.topics import DEFAULT_PREFIX

ENV_CONFIG = "SHOUWANG_GATEWAY_CONFIG"

# Passwords that ship in examples; a gateway started with one of them is misconfigured.
_DEFAULT_SECRETS = frozenset({"changeme", "change-me", "password", "secret", "admin", "shouwang"})


@dataclass(frozen=True, slots=True)
class MqttSettings:
    url: str = "mqtt://127.0.0.1:1883"
    prefix: str = DEFAULT_PREFIX
    username: str = ""
    password: str = ""
    resend_after_s: float = 5.0
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    ca_file: str = ""

    @property
    def broker(self) -> BrokerUrl:
        """The URL parsed by the shared link, with this file's login and CA file."""
        url = BrokerUrl.parse(self.url)
        if self.username:
            url = url.with_login(self.username, self.password)
        return url.with_ca_file(self.ca_file) if self.ca_file else url

    @property
    def tls(self) -> bool:
        return self.broker.tls

    @property
    def host(self) -> str:
        return self.broker.host

    @property
    def port(self) -> int:
        return self.broker.port


@dataclass(frozen=True, slots=True)
class SerialSettings:
    port: str
    baudrate: int = 115200
    kind: str = "node"  # "node" (our line protocol) or "rflink"


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    id: str
    name: str = ""
    model: str = ""
    kind: str = ""
    location: str = ""
    key: str = ""  # BTHome AES key, hex


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    max_bytes: int = 512 * 1024 * 1024
    dedup_window_s: float = 24 * 3600.0
    batch_size: int = 500
    max_inflight_batches: int = 20


@dataclass(frozen=True, slots=True)
class BleSettings:
    enabled: bool = False
    adapter: str = ""  # "hci0"; empty = BlueZ default
    watchdog_s: float = 120.0  # no advert for this long -> restart scanning


@dataclass(frozen=True, slots=True)
class Rtl433Settings:
    command: tuple[str, ...] = ()  # e.g. ("rtl_433", "-F", "json"); empty = not used


@dataclass(frozen=True, slots=True)
class SupervisionSettings:
    check_every_s: float = 30.0
    rf_repeat_window_s: float = 1.5


@dataclass(frozen=True, slots=True)
class OutputSettings:
    siren: tuple[str, ...] = ()  # argv, "{on}" replaced by 1 or 0; empty = state is only logged
    relay: tuple[str, ...] = ()
    siren_on_alarm: bool = False  # local first: sound the station's siren on any alarm event
    siren_s: float = 120.0  # the siren switches itself off after this long


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    id: str
    data_dir: Path
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    serial: tuple[SerialSettings, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    ble: BleSettings = field(default_factory=BleSettings)
    rtl433: Rtl433Settings = field(default_factory=Rtl433Settings)
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    source: Path | None = None

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.db"


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError("[%s] must be a table" % name)
    return value


def _str(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if value is None:
        raise ConfigError("%s.%s is required" % (where, key))
    if not isinstance(value, str):
        raise ConfigError("%s.%s must be a string, got %r" % (where, key, value))
    return value


def _num(table: dict[str, Any], key: str, where: str, default: float, low: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ConfigError("%s.%s must be a number >= %s, got %r" % (where, key, low, value))
    return float(value)


def _int(table: dict[str, Any], key: str, where: str, default: int, low: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError("%s.%s must be an integer >= %d, got %r" % (where, key, low, value))
    return value


def _fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = set(table) - allowed
    if extra:
        raise ConfigError("unknown key(s) in %s: %s" % (where, ", ".join(sorted(extra))))


def _mqtt(raw: dict[str, Any]) -> MqttSettings:
    t = _table(raw, "mqtt")
    _unknown(t, _fields(MqttSettings), "[mqtt]")
    url = _str(t, "url", "mqtt", "mqtt://127.0.0.1:1883")
    try:
        BrokerUrl.parse(url)
    except UrlError as exc:
        raise ConfigError("mqtt.url %s" % exc) from None
    prefix = _str(t, "prefix", "mqtt", DEFAULT_PREFIX)
    if not prefix or any(c in prefix for c in "+#\x00") or prefix.startswith("/") or prefix.endswith("/"):
        raise ConfigError("mqtt.prefix %r is not a valid topic prefix" % prefix)
    username = _str(t, "username", "mqtt", "")
    password = _str(t, "password", "mqtt", "")
    if password.lower() in _DEFAULT_SECRETS:
        raise ConfigError("mqtt.password is a well-known default; set a real secret")
    if password and not username:
        raise ConfigError("mqtt.password is set but mqtt.username is empty")
    ca_file = _str(t, "ca_file", "mqtt", "")
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError("mqtt.ca_file %r does not exist" % ca_file)
    return MqttSettings(
        url=url,
        prefix=prefix,
        username=username,
        password=password,
        resend_after_s=_num(t, "resend_after_s", "mqtt", 5.0, 0.05),
        keepalive_s=_int(t, "keepalive_s", "mqtt", 30, 5),
        session_expiry_s=_int(t, "session_expiry_s", "mqtt", 7 * 24 * 3600, 0),
        ca_file=ca_file,
    )


def _serial(raw: dict[str, Any]) -> tuple[SerialSettings, ...]:
    items = raw.get("serial", [])
    if not isinstance(items, list):
        raise ConfigError("[[serial]] must be an array of tables")
    out: list[SerialSettings] = []
    for i, t in enumerate(items):
        where = "serial[%d]" % i
        if not isinstance(t, dict):
            raise ConfigError("%s must be a table" % where)
        _unknown(t, _fields(SerialSettings), where)
        kind = _str(t, "kind", where, "node")
        if kind not in ("node", "rflink"):
            raise ConfigError("%s.kind must be node or rflink, got %r" % (where, kind))
        out.append(SerialSettings(
            port=_str(t, "port", where),
            baudrate=_int(t, "baudrate", where, 115200, 300),
            kind=kind,
        ))
    ports = [s.port for s in out]
    if len(set(ports)) != len(ports):
        raise ConfigError("a serial port is listed twice; one reader per port")
    return tuple(out)


def _devices(raw: dict[str, Any]) -> tuple[DeviceSettings, ...]:
    items = raw.get("devices", [])
    if not isinstance(items, list):
        raise ConfigError("[[devices]] must be an array of tables")
    out: list[DeviceSettings] = []
    seen: set[str] = set()
    for i, t in enumerate(items):
        where = "devices[%d]" % i
        if not isinstance(t, dict):
            raise ConfigError("%s must be a table" % where)
        _unknown(t, _fields(DeviceSettings), where)
        ident = _str(t, "id", where)
        try:
            check_device_id(ident)
        except ProtocolError:
            raise ConfigError("%s.id %r is not a device id (sn-…, ble-…, rf-…)" % (where, ident)) from None
        if ident in seen:
            raise ConfigError("device %s is listed twice" % ident)
        seen.add(ident)
        key = _str(t, "key", where, "")
        if key:
            try:
                if len(bytes.fromhex(key)) != 16:
                    raise ValueError
            except ValueError:
                raise ConfigError("%s.key must be 32 hex digits (AES-128)" % where) from None
        kind = _str(t, "kind", where, "")
        if kind and kind not in KINDS:
            raise ConfigError("%s.kind %r is not an event kind (%s)"
                              % (where, kind, ", ".join(sorted(KINDS))))
        out.append(DeviceSettings(
            id=ident,
            name=_str(t, "name", where, ""),
            model=_str(t, "model", where, ""),
            kind=kind,
            location=_str(t, "location", where, ""),
            key=key.lower(),
        ))
    return tuple(out)


def _outbox(raw: dict[str, Any]) -> OutboxSettings:
    t = _table(raw, "outbox")
    _unknown(t, _fields(OutboxSettings), "[outbox]")
    return OutboxSettings(
        max_bytes=_int(t, "max_bytes", "outbox", 512 * 1024 * 1024, 1024 * 1024),
        dedup_window_s=_num(t, "dedup_window_s", "outbox", 24 * 3600.0, 1.0),
        batch_size=_int(t, "batch_size", "outbox", 500, 1),
        max_inflight_batches=_int(t, "max_inflight_batches", "outbox", 20, 1),
    )


def _ble(raw: dict[str, Any]) -> BleSettings:
    t = _table(raw, "ble")
    _unknown(t, _fields(BleSettings), "[ble]")
    enabled = t.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError("ble.enabled must be true or false")
    return BleSettings(enabled=enabled, adapter=_str(t, "adapter", "ble", ""),
                       watchdog_s=_num(t, "watchdog_s", "ble", 120.0, 5.0))


def _rtl433(raw: dict[str, Any]) -> Rtl433Settings:
    t = _table(raw, "rtl433")
    _unknown(t, _fields(Rtl433Settings), "[rtl433]")
    command = t.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) and c for c in command):
        raise ConfigError("rtl433.command must be a list of strings, e.g. [\"rtl_433\", \"-F\", \"json\"]")
    return Rtl433Settings(command=tuple(command))


def _supervision(raw: dict[str, Any]) -> SupervisionSettings:
    t = _table(raw, "supervision")
    _unknown(t, _fields(SupervisionSettings), "[supervision]")
    return SupervisionSettings(
        check_every_s=_num(t, "check_every_s", "supervision", 30.0, 0.1),
        rf_repeat_window_s=_num(t, "rf_repeat_window_s", "supervision", 1.5, 0.0),
    )


def _argv(t: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = t.get(key, [])
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise ConfigError("%s.%s must be a list of strings (a command and its arguments)" % (where, key))
    return tuple(value)


def _outputs(raw: dict[str, Any]) -> OutputSettings:
    t = _table(raw, "outputs")
    _unknown(t, _fields(OutputSettings), "[outputs]")
    on_alarm = t.get("siren_on_alarm", False)
    if not isinstance(on_alarm, bool):
        raise ConfigError("outputs.siren_on_alarm must be true or false")
    return OutputSettings(siren=_argv(t, "siren", "outputs"), relay=_argv(t, "relay", "outputs"),
                          siren_on_alarm=on_alarm, siren_s=_num(t, "siren_s", "outputs", 120.0, 1.0))


def parse_settings(raw: dict[str, Any], source: Path | None = None) -> GatewaySettings:
    gw = _table(raw, "gateway")
    ident = _str(gw, "id", "gateway")
    try:
        check_gateway_id(ident)
    except ProtocolError:
        raise ConfigError("gateway.id %r must match [a-z0-9-]{3,32}" % ident) from None
    data_dir = Path(_str(gw, "data_dir", "gateway"))
    if source is not None and not data_dir.is_absolute():
        data_dir = source.parent / data_dir
    settings = GatewaySettings(
        id=ident,
        data_dir=data_dir,
        mqtt=_mqtt(raw),
        serial=_serial(raw),
        devices=_devices(raw),
        outbox=_outbox(raw),
        ble=_ble(raw),
        rtl433=_rtl433(raw),
        supervision=_supervision(raw),
        outputs=_outputs(raw),
        source=source,
    )
    if settings.outbox.batch_size > 500:
        raise ConfigError("outbox.batch_size is at most 500 events per message")
    return settings


def load_settings(path: str | os.PathLike[str]) -> GatewaySettings:
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (source, exc.strerror or exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("%s is not valid TOML: %s" % (source, exc)) from None
    return parse_settings(raw, source)
