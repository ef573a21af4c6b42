"""The server's own broker account, from the environment or a file, never the command line.

``SHOUWANG_MQTT_USERNAME`` names the account (else the user part of the broker URL);
the password comes from ``SHOUWANG_MQTT_PASSWORD_FILE`` (a file holding it, such as a systemd
credential), else ``SHOUWANG_MQTT_PASSWORD``, else the broker URL (older installations).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from server.errors import ConfigError


def read_password_file(path: Path) -> str:
    try:
        if path.stat().st_mode & 0o007:
            raise ConfigError("%s is readable by everyone; chmod 600 (or 640) it" % path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("cannot read SHOUWANG_MQTT_PASSWORD_FILE %s: %s" % (path, exc)) from None
    password = text.rstrip("\r\n")
    if not password:
        raise ConfigError("SHOUWANG_MQTT_PASSWORD_FILE %s is empty" % path)
    return password


def broker_login(env: Mapping[str, str], url: str) -> tuple[str, str] | None:
    """(username, password) for the server's broker connection, or None for no login."""
    parts = urlsplit(url)
    username = env.get("SHOUWANG_MQTT_USERNAME") or (unquote(parts.username) if parts.username else "")
    password_file = env.get("SHOUWANG_MQTT_PASSWORD_FILE")
    if password_file:
        password = read_password_file(Path(password_file))
    else:
        password = env.get("SHOUWANG_MQTT_PASSWORD") or unquote(parts.password or "")
    if not username:
        if password:
            raise ConfigError("a broker password is set but no SHOUWANG_MQTT_USERNAME")
        return None
    return username, password
