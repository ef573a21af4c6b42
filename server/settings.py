"""Server settings: one pydantic-settings object, built from the environment and the command
line's flags, that fails fast with a ``ConfigError`` naming what is wrong."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mqttlink import BrokerUrl, UrlError
from server.broker_login import broker_login
from server.errors import ConfigError
from server.passwords import password_problem

log = logging.getLogger(__name__)

DEFAULT_DB = "sqlite:///shouwang.db"
DEFAULT_MQTT = "mqtt://127.0.0.1:1883"
DEFAULT_LISTEN = "127.0.0.1:8000"
DEFAULT_PREFIX = "sw/v1"
SESSION_EXPIRY_S = 5
SECRET_FILE = "shouwang.secret"
MIN_SECRET = 32
# Values copied from examples and tutorials: whoever ships them shares them with everyone.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "admin",
        "default",
        "shouwang",
        "test",
        "example",
        "please-change-me",
        "your-secret-here",
        "xxx",
    }
)


def _is_placeholder(value: str) -> bool:
    low = value.strip().lower()
    if low in PLACEHOLDERS or len(set(low)) <= 2:
        return True
    return any(low == p * (len(low) // len(p)) for p in PLACEHOLDERS if len(low) % len(p) == 0)


def check_secret(value: str) -> str:
    if len(value) < MIN_SECRET:
        raise ConfigError("SHOUWANG_SECRET must be at least %d characters" % MIN_SECRET)
    if _is_placeholder(value):
        raise ConfigError("SHOUWANG_SECRET is a placeholder value; generate a random one")
    return value


def check_password(value: str, what: str = "password", user_inputs: tuple[str, ...] = ()) -> str:
    problem = password_problem(value, user_inputs)
    if problem is not None:
        raise ConfigError("%s %s" % (what, problem), reason="weak_password")
    return value


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("listen address must be HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def mqtt_broker(value: str) -> BrokerUrl:
    """``mqtt://[user:password@]HOST[:PORT]`` or ``mqtts://...[?ca=FILE]``, parsed by the shared link."""
    try:
        return BrokerUrl.parse(value)
    except UrlError as exc:
        raise ConfigError("MQTT URL: %s" % exc) from None


def parse_mqtt_url(value: str) -> tuple[str, int]:
    broker = mqtt_broker(value)
    return broker.host, broker.port


def mqtt_login(url: str) -> tuple[str, str] | None:
    """``mqtt://user:password@host:port``: the server's own broker account, if any."""
    return mqtt_broker(url).login


def check_db_url(value: str) -> str:
    scheme = value.partition("://")[0]
    if not scheme or not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ConfigError("database URL must be sqlite:///FILE or postgresql://..., got %r" % value)
    return value


def sqlite_file(db_url: str) -> Path | None:
    if not db_url.startswith("sqlite"):
        return None
    path = db_url.partition(":///")[2].partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


# Seconds allowed per step, by alarm class; ``default`` covers unlisted classes.
DEFAULT_TABLES: dict[str, dict[str, float]] = {
    "accept": {"panic": 60.0, "medical": 60.0, "fire": 60.0, "intrusion": 120.0, "default": 4 * 3600.0},
    "dispatch": {"default": 600.0},
    "handle": {"default": 7200.0},
    # A reply waits for verification (核查), a verified case for closing (结案): every open
    # state has a deadline, so no case waits unseen.
    "verify": {"default": 86400.0},
    "close": {"default": 86400.0},
    # After the deadline: escalate one region level up and notify again, every this often.
    "renotify": {"panic": 60.0, "medical": 60.0, "fire": 60.0, "default": 600.0},
}
DEADLINE_NUMBERS = ("yellow", "cancel_grace", "gateway_offline")


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < float("inf")


class Deadlines(BaseModel):
    """Deadlines per step and alarm class. Given as JSON (``SHOUWANG_DEADLINES``) or keywords:
    ``{"accept": {"panic": 45}, "yellow": 0.75}`` overrides only what it names."""

    model_config = ConfigDict(frozen=True)

    accept: Mapping[str, float] = Field(default_factory=lambda: dict(DEFAULT_TABLES["accept"]))
    dispatch: Mapping[str, float] = Field(default_factory=lambda: dict(DEFAULT_TABLES["dispatch"]))
    handle: Mapping[str, float] = Field(default_factory=lambda: dict(DEFAULT_TABLES["handle"]))
    verify: Mapping[str, float] = Field(default_factory=lambda: dict(DEFAULT_TABLES["verify"]))
    close: Mapping[str, float] = Field(default_factory=lambda: dict(DEFAULT_TABLES["close"]))
    renotify: Mapping[str, float] = Field(default_factory=lambda: dict(DEFAULT_TABLES["renotify"]))
    yellow: float = 0.8  # share of the step's time after which it turns yellow
    # A device may take back its own alarm (panic_cancel) this long after it opened the case,
    # as long as nobody has accepted it yet.
    cancel_grace: float = 30.0
    # A gateway silent (LWT offline) for longer than this becomes a maintenance case.
    gateway_offline: float = 600.0

    def seconds(self, step: str, alarm_class: str) -> float:
        table: Mapping[str, float] = getattr(self, step)
        return float(table.get(alarm_class, table["default"]))

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        if isinstance(data, Deadlines):
            return data
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ConfigError("SHOUWANG_DEADLINES is not JSON: %s" % exc) from None
        if not isinstance(data, Mapping):
            raise ConfigError("SHOUWANG_DEADLINES must be a JSON object")
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key in DEFAULT_TABLES:
                if not isinstance(value, Mapping) or not all(_seconds(v) for v in value.values()):
                    raise ConfigError("SHOUWANG_DEADLINES.%s must map alarm classes to seconds > 0" % key)
                changes[key] = {**DEFAULT_TABLES[key], **{str(k): float(v) for k, v in value.items()}}
            elif key in DEADLINE_NUMBERS:
                if not _seconds(value):
                    raise ConfigError("SHOUWANG_DEADLINES.%s must be a number > 0" % key)
                if key == "yellow" and value >= 1:
                    raise ConfigError("SHOUWANG_DEADLINES.yellow is a share of the step's time, below 1")
                changes[key] = float(value)
            else:
                raise ConfigError("SHOUWANG_DEADLINES: unknown key %r" % key)
        return changes

    @classmethod
    def from_json(cls, text: str) -> Deadlines:
        return cls.model_validate(text)


class _Environment(EnvSettingsSource):
    """``SHOUWANG_*`` variables from the process environment, or from the mapping given."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = os.environ if self._environ is None else self._environ
        # Names match whatever their case; an empty variable counts as unset.
        return {name.lower(): value for name, value in environ.items() if value != ""}


class Settings(BaseSettings):
    """The server's settings: ``SHOUWANG_*`` environment variables, overridden by keywords (the
    command line's flags), over the defaults. Anything that cannot work is a ``ConfigError``."""

    model_config = SettingsConfigDict(
        env_prefix="SHOUWANG_", frozen=True, validate_by_name=True, extra="forbid"
    )

    db_url: str = Field(DEFAULT_DB, validation_alias="SHOUWANG_DB")
    mqtt_url: str = Field(DEFAULT_MQTT, validation_alias="SHOUWANG_MQTT")
    listen: str = DEFAULT_LISTEN
    mqtt_prefix: str = DEFAULT_PREFIX
    data_dir: Path | None = None
    admin_password: str | None = None
    mqtt_client_id: str = ""
    seed_file: Path | None = Field(None, validation_alias="SHOUWANG_SEED")
    token_ttl: float = Field(12 * 3600.0, gt=0, le=30 * 86400)
    # MQTT v5 session expiry: how long the broker keeps this instance's session (and its share
    # of the events subscription) after it leaves. Short on purpose: the gateways resend what
    # was not acked, so an instance that is gone must stop taking a share within seconds.
    session_expiry: int = Field(SESSION_EXPIRY_S, ge=0, le=2**32 - 1)
    deadlines: Annotated[Deadlines, NoDecode] = Field(default_factory=Deadlines)
    # Seconds between deadline checks; 0 turns the checker off (tests drive it by hand).
    deadline_interval: float = Field(1.0, ge=0, le=60)
    # Where to keep Mosquitto's password and ACL files for gateway credentials (optional).
    mqtt_auth_dir: Path | None = None
    # The server's own broker account when not in the URL: a name, and a password from a file
    # (not world-readable) or the environment, never the command line (server.broker_login).
    mqtt_username: str | None = None
    mqtt_password: str | None = Field(None, repr=False)
    mqtt_password_file: Path | None = None
    mqtt_credentials: tuple[str, str] | None = Field(None, repr=False, validate_default=True)
    # SIA DC-09 receiver for alarm panels (HOST:PORT, TCP and UDP); None: no receiver.
    sia_listen: str | None = None
    # SHOUWANG_NOTIFY: apprise URLs (space or comma separated) told of every new alarm case and
    # every escalation.
    notify_targets: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="SHOUWANG_NOTIFY")
    # The console's address as people reach it, for the links in notifications.
    public_url: str = ""
    # The server's own GSM modem for sms:// notification targets (optional).
    sms_port: str | None = None
    # Seconds between notification outbox rounds when nothing wakes it; 0 turns it off.
    notify_interval: float = Field(0.5, ge=0, le=60)
    # Declared last: when unset, it is generated and saved beside the database (or in data_dir),
    # and only once every other setting is known to be good.
    secret: str = Field(None, validate_default=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _Environment(settings_cls))

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        db_url: str | None = None,
        mqtt_url: str | None = None,
        listen: str | None = None,
        seed_file: Path | None = None,
        sia_listen: str | None = None,
    ) -> Settings:
        """Flags given here win over ``env`` (the process environment when None), which wins over
        the defaults."""
        flags = {
            "db_url": db_url,
            "mqtt_url": mqtt_url,
            "listen": listen,
            "seed_file": seed_file,
            "sia_listen": sia_listen,
        }
        names = {f.validation_alias: name for name, f in cls.model_fields.items() if f.validation_alias}
        from_env = {names.get(key, key): value for key, value in _Environment(cls, env)().items()}
        values = {**from_env, **{k: v for k, v in flags.items() if v is not None}}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _config_error(exc) from None

    @field_validator("db_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        return check_db_url(value)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("sia_listen")
    @classmethod
    def _sia_listen(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_listen(value)
            except ConfigError as exc:
                raise ConfigError("SHOUWANG_SIA_LISTEN: %s" % exc) from None
        return value

    @field_validator("mqtt_prefix")
    @classmethod
    def _mqtt_prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "+#\x00") or value.endswith("/"):
            raise ConfigError("bad MQTT topic prefix %r" % value)
        return value

    @field_validator("secret", mode="before")
    @classmethod
    def _secret(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and set(info.data) == set(cls.model_fields) - {"secret"}:
            value = load_or_create_secret(_secret_dir(info.data["db_url"], info.data.get("data_dir")))
        return check_secret(value) if isinstance(value, str) else value

    @field_validator("notify_targets", mode="before")
    @classmethod
    def _notify_targets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _notify_targets(value)
        if isinstance(value, list | tuple):
            return _notify_targets(" ".join(str(v) for v in value))
        return value

    @field_validator("admin_password")
    @classmethod
    def _admin_password(cls, value: str | None) -> str | None:
        return check_password(value, "SHOUWANG_ADMIN_PASSWORD", ("admin",)) if value is not None else None

    @field_validator("mqtt_credentials", mode="before")
    @classmethod
    def _mqtt_credentials(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None or "mqtt_url" not in info.data:
            return value
        given = {
            "SHOUWANG_MQTT_USERNAME": info.data.get("mqtt_username"),
            "SHOUWANG_MQTT_PASSWORD": info.data.get("mqtt_password"),
            "SHOUWANG_MQTT_PASSWORD_FILE": info.data.get("mqtt_password_file"),
        }
        return broker_login({k: str(v) for k, v in given.items() if v}, info.data["mqtt_url"])

    @property
    def console_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = self.listen_addr
        return "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)

    @property
    def listen_addr(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    @property
    def sia_addr(self) -> tuple[str, int] | None:
        return parse_listen(self.sia_listen) if self.sia_listen is not None else None

    @property
    def mqtt_addr(self) -> tuple[str, int]:
        return parse_mqtt_url(self.mqtt_url)

    @property
    def mqtt_login(self) -> tuple[str, str] | None:
        return self.mqtt_credentials or mqtt_login(self.mqtt_url)

    @property
    def mqtt_share_group(self) -> str:
        """The servers' shared-subscription group: the same for every instance of one
        installation (they share the secret), and unguessable by a gateway, so a gateway
        joining a shared subscription never takes a share of the servers' messages."""
        digest = hmac.new(self.secret.encode("utf-8"), b"shouwang mqtt share group", hashlib.sha256)
        return "sw-" + digest.hexdigest()[:24]

    def client_id(self) -> str:
        # One id per instance; each start begins a fresh session (see ``session_expiry``).
        # A broker that binds client ids to accounts uses the user name anyway.
        login = self.mqtt_login
        return self.mqtt_client_id or (login[0] if login else "shouwang-server-%s" % socket.gethostname())


def _config_error(exc: ValidationError) -> ConfigError:
    """The first problem, in the words of the check that found it, or named by its variable."""
    error = exc.errors(include_url=False)[0]
    if error["type"] == "value_error":
        return ConfigError(str(error["ctx"]["error"]))
    fields = Settings.model_fields
    where = ".".join(str(part) for part in error["loc"])
    name = str(error["loc"][0]) if error["loc"] else ""
    if name in fields:
        alias = fields[name].validation_alias
        where = where.replace(name, alias if isinstance(alias, str) else "SHOUWANG_" + name.upper(), 1)
    return ConfigError("%s: %s" % (where, error["msg"]))


def _notify_targets(value: str | None) -> tuple[str, ...]:
    from server.errors import ServerError
    from server.notify.targets import env_targets

    try:
        return env_targets(value)
    except ServerError as exc:
        raise ConfigError("SHOUWANG_NOTIFY: %s" % exc.detail) from None


def _secret_dir(db_url: str, data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    db_file = sqlite_file(db_url)
    if db_file is not None:
        return db_file.resolve().parent
    raise ConfigError(
        "SHOUWANG_SECRET is unset and there is no SQLite file or SHOUWANG_DATA_DIR to keep one in"
    )


def load_or_create_secret(directory: Path) -> str:
    path = directory / SECRET_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError("%s is readable by others; chmod 600 it" % path)
        return check_secret(path.read_text().strip())
    directory.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    log.warning("SHOUWANG_SECRET is unset: generated a new secret and saved it in %s (mode 0600)", path)
    return value
