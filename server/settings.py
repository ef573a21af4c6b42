"""Server settings: one object, built from arguments and the environment, that fails fast."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from server.broker_login import broker_login
from server.errors import ConfigError
from server.passwords import password_problem

log = logging.getLogger(__name__)

DEFAULT_DB = "sqlite:///shouwang.db"
DEFAULT_MQTT = "mqtt://127.0.0.1:1883"
DEFAULT_LISTEN = "127.0.0.1:8000"
DEFAULT_PREFIX = "sw/v1"
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


def parse_mqtt_url(value: str) -> tuple[str, int]:
    parts = urlsplit(value)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError("MQTT URL must look like mqtt://HOST:PORT, got %r" % value)
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError("bad port in MQTT URL %r" % value) from None
    return parts.hostname, port


def mqtt_login(url: str) -> tuple[str, str] | None:
    """``mqtt://user:password@host:port``: the server's own broker account, if any."""
    parts = urlsplit(url)
    if not parts.username:
        return None
    return unquote(parts.username), unquote(parts.password or "")


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


@dataclass(frozen=True)
class Deadlines:
    """Seconds allowed per step, by alarm class; ``default`` covers unlisted classes."""

    accept: Mapping[str, float] = field(
        default_factory=lambda: {
            "panic": 60.0,
            "medical": 60.0,
            "fire": 60.0,
            "intrusion": 120.0,
            "default": 4 * 3600.0,
        }
    )
    dispatch: Mapping[str, float] = field(default_factory=lambda: {"default": 600.0})
    handle: Mapping[str, float] = field(default_factory=lambda: {"default": 7200.0})
    # After the deadline: escalate one region level up and notify again, every this often.
    renotify: Mapping[str, float] = field(
        default_factory=lambda: {"panic": 60.0, "medical": 60.0, "fire": 60.0, "default": 600.0}
    )
    yellow: float = 0.8  # share of the step's time after which it turns yellow
    # A device may take back its own alarm (panic_cancel) this long after it opened the case,
    # as long as nobody has accepted it yet.
    cancel_grace: float = 30.0
    # A gateway silent (LWT offline) for longer than this becomes a maintenance case.
    gateway_offline: float = 600.0

    def seconds(self, step: str, alarm_class: str) -> float:
        table: Mapping[str, float] = getattr(self, step)
        return float(table.get(alarm_class, table["default"]))

    @classmethod
    def from_json(cls, text: str) -> Deadlines:
        """``{"accept": {"panic": 45}, "yellow": 0.75}``: what is given overrides the defaults."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("SHOUWANG_DEADLINES is not JSON: %s" % exc) from None
        base = cls()
        if not isinstance(obj, dict):
            raise ConfigError("SHOUWANG_DEADLINES must be a JSON object")
        changes: dict[str, Any] = {}
        for key, value in obj.items():
            if key in ("accept", "dispatch", "handle", "renotify"):
                if not isinstance(value, dict) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value.values()
                ):
                    raise ConfigError("SHOUWANG_DEADLINES.%s must map alarm classes to seconds > 0" % key)
                changes[key] = {**getattr(base, key), **{str(k): float(v) for k, v in value.items()}}
            elif key in ("yellow", "cancel_grace", "gateway_offline"):
                if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                    raise ConfigError("SHOUWANG_DEADLINES.%s must be a number > 0" % key)
                if key == "yellow" and value >= 1:
                    raise ConfigError("SHOUWANG_DEADLINES.yellow is a share of the step's time, below 1")
                changes[key] = float(value)
            else:
                raise ConfigError("SHOUWANG_DEADLINES: unknown key %r" % key)
        return replace(base, **changes)


@dataclass(frozen=True)
class Settings:
    db_url: str = DEFAULT_DB
    mqtt_url: str = DEFAULT_MQTT
    listen: str = DEFAULT_LISTEN
    mqtt_prefix: str = DEFAULT_PREFIX
    secret: str = ""
    admin_password: str | None = None
    mqtt_client_id: str = ""
    data_dir: Path | None = None
    seed_file: Path | None = None
    token_ttl: float = 12 * 3600.0
    # MQTT v5 session expiry: how long the broker keeps our queue while we are away.
    session_expiry: int = 7 * 24 * 3600
    deadlines: Deadlines = field(default_factory=Deadlines)
    # Seconds between deadline checks; 0 turns the checker off (tests drive it by hand).
    deadline_interval: float = 1.0
    # Where to keep Mosquitto's password and ACL files for gateway credentials (optional).
    mqtt_auth_dir: Path | None = None
    # The server's own broker account when not in the URL (server.broker_login).
    mqtt_credentials: tuple[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_db_url(self.db_url)
        parse_mqtt_url(self.mqtt_url)
        parse_listen(self.listen)
        if (
            not self.mqtt_prefix
            or any(c in self.mqtt_prefix for c in "+#\x00")
            or self.mqtt_prefix.endswith("/")
        ):
            raise ConfigError("bad MQTT topic prefix %r" % self.mqtt_prefix)
        check_secret(self.secret)
        if self.admin_password is not None:
            check_password(self.admin_password, "SHOUWANG_ADMIN_PASSWORD", ("admin",))

    @property
    def listen_addr(self) -> tuple[str, int]:
        return parse_listen(self.listen)

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

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        db_url: str | None = None,
        mqtt_url: str | None = None,
        listen: str | None = None,
        seed_file: Path | None = None,
    ) -> Settings:
        """Arguments win over the environment, which wins over defaults."""
        env = os.environ if env is None else env
        db = db_url or env.get("SHOUWANG_DB") or DEFAULT_DB
        check_db_url(db)
        data_dir_env = env.get("SHOUWANG_DATA_DIR")
        data_dir = Path(data_dir_env) if data_dir_env else None
        secret = env.get("SHOUWANG_SECRET")
        if secret is None or secret == "":
            secret = load_or_create_secret(_secret_dir(db, data_dir))
        admin = env.get("SHOUWANG_ADMIN_PASSWORD") or None
        mqtt = mqtt_url or env.get("SHOUWANG_MQTT") or DEFAULT_MQTT
        return cls(
            db_url=db,
            mqtt_url=mqtt,
            mqtt_credentials=broker_login(env, mqtt),
            listen=listen or env.get("SHOUWANG_LISTEN") or DEFAULT_LISTEN,
            mqtt_prefix=env.get("SHOUWANG_MQTT_PREFIX") or DEFAULT_PREFIX,
            secret=secret,
            admin_password=admin,
            mqtt_client_id=env.get("SHOUWANG_MQTT_CLIENT_ID") or "",
            data_dir=data_dir,
            seed_file=seed_file,
            mqtt_auth_dir=Path(env["SHOUWANG_MQTT_AUTH_DIR"]) if env.get("SHOUWANG_MQTT_AUTH_DIR") else None,
            deadlines=Deadlines.from_json(env["SHOUWANG_DEADLINES"])
            if env.get("SHOUWANG_DEADLINES")
            else Deadlines(),
        )

    def client_id(self) -> str:
        # Stable across restarts, so the broker's persistent session (our queue) is found again.
        # A broker that binds client ids to accounts uses the user name anyway.
        login = self.mqtt_login
        return self.mqtt_client_id or (login[0] if login else "shouwang-server-%s" % socket.gethostname())


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
