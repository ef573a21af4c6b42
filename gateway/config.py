"""One TOML file -> frozen, validated settings; every bad value fails at load time.

The settings are pydantic dataclasses: the same objects are built from the file and in code
(tests, the demo), and both are validated. A file's errors become one ``ConfigError`` naming
each bad value where the file has it (``mqtt.url``, ``serial[0].baudrate``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, Strict, StrictBool, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import ArgsKwargs, ErrorDetails

from gateway.errors import ConfigError
from gateway.kiosk.settings import KioskSettings
from mqttlink import BrokerUrl, UrlError
from protocol.errors import ProtocolError
from protocol.ids import check_device_id, check_gateway_id
from protocol.kinds import KINDS
from protocol.sms import check_number
from protocol.topics import DEFAULT_PREFIX

ENV_CONFIG = "SHOUWANG_GATEWAY_CONFIG"
MAX_BATCH = 500  # the protocol's limit of events per message

# Passwords that ship in examples; a gateway started with one of them is misconfigured.
_DEFAULT_SECRETS = frozenset({"changeme", "change-me", "password", "secret", "admin", "shouwang"})

_TABLE = ConfigDict(extra="forbid")


# --- value types ------------------------------------------------------------------------------

def _gateway_id(value: str) -> str:
    try:
        return check_gateway_id(value)
    except ProtocolError:
        raise ValueError("%r must match [a-z0-9-]{3,32}" % value) from None


def _device_id(value: str) -> str:
    try:
        return check_device_id(value)
    except ProtocolError:
        raise ValueError("%r is not a device id (sn-…, ble-…, rf-…)" % value) from None


def _broker_url(value: str) -> str:
    try:
        BrokerUrl.parse(value)
    except UrlError as exc:
        raise ValueError(str(exc)) from None
    return value


def _prefix(value: str) -> str:
    if not value or any(c in value for c in "+#\x00") or value.startswith("/") or value.endswith("/"):
        raise ValueError("%r is not a valid topic prefix" % value)
    return value


def _password(value: str) -> str:
    if value.lower() in _DEFAULT_SECRETS:
        raise ValueError("is a well-known default; set a real secret")
    return value


def _existing_file(value: str) -> str:
    if value and not Path(value).is_file():
        raise ValueError("%r does not exist" % value)
    return value


def _kind(value: str) -> str:
    if value and value not in KINDS:
        raise ValueError("%r is not an event kind (%s)" % (value, ", ".join(sorted(KINDS))))
    return value


def _phone(value: str) -> str:
    try:
        return check_number(value)
    except ProtocolError:
        raise ValueError("%r is not a phone number (digits, an optional leading +)" % value) from None


def _aes_key(value: str) -> str:
    try:
        if value and len(bytes.fromhex(value)) != 16:
            raise ValueError
    except ValueError:
        raise ValueError("must be 32 hex digits (AES-128)") from None
    return value.lower()


Str = StrictStr
Number = Annotated[float, Strict()]  # an integer is a number too; a string or a bool is not
GatewayId = Annotated[StrictStr, AfterValidator(_gateway_id)]
DeviceId = Annotated[StrictStr, AfterValidator(_device_id)]
Argv = tuple[Annotated[StrictStr, Field(min_length=1)], ...]  # a command and its arguments


# --- the tables -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, config=_TABLE)
class MqttSettings:
    url: Annotated[Str, AfterValidator(_broker_url)] = "mqtt://127.0.0.1:1883"
    prefix: Annotated[Str, AfterValidator(_prefix)] = DEFAULT_PREFIX
    username: Str = ""
    password: Annotated[Str, AfterValidator(_password)] = ""
    resend_after_s: Annotated[Number, Field(ge=0.05)] = 5.0
    keepalive_s: Annotated[StrictInt, Field(ge=5)] = 30
    session_expiry_s: Annotated[StrictInt, Field(ge=0)] = 7 * 24 * 3600
    ca_file: Annotated[Str, AfterValidator(_existing_file)] = ""

    def __post_init__(self) -> None:
        if self.password and not self.username:
            raise ValueError("password is set but username is empty")
        if self.ca_file and not BrokerUrl.parse(self.url).tls:
            raise ValueError("ca_file needs an mqtts:// url")

    @property
    def broker(self) -> BrokerUrl:
        """The URL parsed by the shared link, with this table's login and CA file."""
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


@dataclass(frozen=True, slots=True, config=_TABLE)
class SerialSettings:
    port: Str
    baudrate: Annotated[StrictInt, Field(ge=300)] = 115200
    kind: Literal["node", "rflink"] = "node"  # our line protocol, or an RFLink receiver


@dataclass(frozen=True, slots=True, config=_TABLE)
class DeviceSettings:
    id: DeviceId
    name: Str = ""
    model: Str = ""
    kind: Annotated[Str, AfterValidator(_kind)] = ""
    location: Str = ""
    key: Annotated[Str, AfterValidator(_aes_key)] = ""  # BTHome AES key, hex


@dataclass(frozen=True, slots=True, config=_TABLE)
class OutboxSettings:
    max_bytes: Annotated[StrictInt, Field(ge=1024 * 1024)] = 512 * 1024 * 1024
    dedup_window_s: Annotated[Number, Field(ge=1.0)] = 24 * 3600.0
    batch_size: Annotated[StrictInt, Field(ge=1, le=MAX_BATCH)] = MAX_BATCH
    max_inflight_batches: Annotated[StrictInt, Field(ge=1)] = 20


@dataclass(frozen=True, slots=True, config=_TABLE)
class BleSettings:
    enabled: StrictBool = False
    adapter: Str = ""  # "hci0"; empty = BlueZ default
    watchdog_s: Annotated[Number, Field(ge=5.0)] = 120.0  # no advert for this long -> restart scanning


@dataclass(frozen=True, slots=True, config=_TABLE)
class Rtl433Settings:
    command: Argv = ()  # e.g. ("rtl_433", "-F", "json"); empty = not used


@dataclass(frozen=True, slots=True, config=_TABLE)
class SupervisionSettings:
    check_every_s: Annotated[Number, Field(ge=0.1)] = 30.0
    rf_repeat_window_s: Annotated[Number, Field(ge=0.0)] = 1.5


@dataclass(frozen=True, slots=True, config=_TABLE)
class OutputSettings:
    siren: Argv = ()  # argv, "{on}" replaced by 1 or 0; empty = state is only logged
    relay: Argv = ()
    siren_on_alarm: StrictBool = False  # local first: sound the station's siren on any alarm event
    siren_s: Annotated[Number, Field(ge=1.0)] = 120.0  # the siren switches itself off after this long


@dataclass(frozen=True, slots=True, config=_TABLE)
class SmsSettings:
    """SMS fallback: a GSM modem texts ``numbers`` an alarm the server has not acked in ``after_s``."""

    port: Annotated[Str, Field(min_length=1)]
    numbers: tuple[Annotated[StrictStr, AfterValidator(_phone)], ...]
    after_s: Annotated[Number, Field(ge=10.0)] = 120.0
    baudrate: Annotated[StrictInt, Field(ge=300)] = 115200
    station: Str = ""  # the name in the texts; empty: the gateway id

    def __post_init__(self) -> None:
        if not self.numbers:
            raise ValueError("numbers: give at least one phone number to text")


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class GatewaySettings:
    id: GatewayId
    data_dir: Path
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    serial: tuple[SerialSettings, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    ble: BleSettings = field(default_factory=BleSettings)
    rtl433: Rtl433Settings = field(default_factory=Rtl433Settings)
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    sms: SmsSettings | None = None
    kiosk: KioskSettings | None = None  # no [kiosk] table: no kiosk page
    source: Path | None = None

    def __post_init__(self) -> None:
        ports = [s.port for s in self.serial]
        if len(set(ports)) != len(ports):
            raise ValueError("serial: a serial port is listed twice; one reader per port")
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError("devices: device %s is listed twice" % d.id)
            seen.add(d.id)

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.db"


# --- the file ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, config=_TABLE)
class _GatewayTable:
    id: GatewayId
    data_dir: Str


@dataclass(frozen=True, slots=True, config=_TABLE)
class _File:
    """The TOML file as it is laid out: ``[gateway]``, ``[mqtt]``, ``[[serial]]``, ..."""

    gateway: _GatewayTable
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    serial: tuple[SerialSettings, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    ble: BleSettings = field(default_factory=BleSettings)
    rtl433: Rtl433Settings = field(default_factory=Rtl433Settings)
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    sms: SmsSettings | None = None
    kiosk: KioskSettings | None = None


_FILE = TypeAdapter(_File)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += "[%d]" % part if isinstance(part, int) else ("." if out else "") + part
    return out


def _problem(err: ErrorDetails) -> str:
    """One pydantic error as the file's author reads it: ``serial[0].baudrate: ...``."""
    loc = tuple(err["loc"])
    kind = err["type"]
    where = _where(loc)
    if kind in ("missing", "missing_argument"):
        return "%s is required" % where
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown key in %s: %s" % (_where(loc[:-1]) or "the file", loc[-1])
    if kind == "value_error":
        text = str(err["msg"]).removeprefix("Value error, ")
        if not where:
            return text
        # A check of a whole table (``__post_init__``) names its fields itself.
        table_check = isinstance(err["input"], dict | ArgsKwargs)
        return "%s%s %s" % (where, ":" if table_check else "", text)
    if kind in ("dict_type", "dataclass_type"):
        return "%s must be a table" % (where or "the file")
    if kind == "tuple_type":
        return "%s must be an array" % where
    return "%s: %s, got %r" % (where, str(err["msg"]).lower(), err["input"])


def config_error(exc: PydanticValidationError) -> ConfigError:
    return ConfigError("; ".join(_problem(e) for e in exc.errors(include_url=False)))


def parse_settings(raw: dict[str, Any], source: Path | None = None) -> GatewaySettings:
    try:
        f = _FILE.validate_python(raw)
        data_dir = Path(f.gateway.data_dir)
        if source is not None and not data_dir.is_absolute():
            data_dir = source.parent / data_dir
        return GatewaySettings(id=f.gateway.id, data_dir=data_dir, mqtt=f.mqtt, serial=f.serial,
                               devices=f.devices, outbox=f.outbox, ble=f.ble, rtl433=f.rtl433,
                               supervision=f.supervision, outputs=f.outputs, sms=f.sms, kiosk=f.kiosk,
                               source=source)
    except PydanticValidationError as exc:
        raise config_error(exc) from None


def load_settings(path: str | os.PathLike[str]) -> GatewaySettings:
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (source, exc.strerror or exc)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("%s is not valid TOML: %s" % (source, exc)) from None
    return parse_settings(raw, source)

