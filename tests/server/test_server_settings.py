"""Server settings through pydantic-settings: every SHOUWANG_* variable, flags over the
environment, and errors that name the variable at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.errors import ConfigError
from server.settings import Deadlines, Settings

GOOD = "k2V9q7Zr4mWx8tLp3bNc6hJd1sFg5aYe0uQi"


def test_every_variable_is_read(tmp_path: Path) -> None:
    env = {
        "SHOUWANG_DB": "postgresql://shouwang@127.0.0.1/sw",
        "SHOUWANG_MQTT": "mqtt://server:pw@127.0.0.1:1884",
        "SHOUWANG_LISTEN": "127.0.0.1:8100",
        "SHOUWANG_MQTT_PREFIX": "county/v1",
        "SHOUWANG_DATA_DIR": str(tmp_path),
        "SHOUWANG_SECRET": GOOD,
        "SHOUWANG_ADMIN_PASSWORD": "Admin-Password-2026",
        "SHOUWANG_MQTT_CLIENT_ID": "shouwang-a",
        "SHOUWANG_SEED": str(tmp_path / "seed.json"),
        "SHOUWANG_TOKEN_TTL": "3600",
        "SHOUWANG_SESSION_EXPIRY": "86400",
        "SHOUWANG_DEADLINES": '{"accept": {"panic": 45}}',
        "SHOUWANG_DEADLINE_INTERVAL": "2",
        "SHOUWANG_MQTT_AUTH_DIR": str(tmp_path / "broker"),
        "SHOUWANG_SIA_LISTEN": "0.0.0.0:12128",
        "SHOUWANG_NOTIFY": "dingtalk://token1/ , json://127.0.0.1:9/hook",
        "SHOUWANG_PUBLIC_URL": "https://duty.example.cn/",
        "SHOUWANG_SMS_PORT": "/dev/gsm-modem",
        "SHOUWANG_NOTIFY_INTERVAL": "2",
        "SHOUWANG_GATEWAY_CONFIG": "/etc/shouwang/gateway.toml",  # another part's variable
    }
    s = Settings.load(env)
    assert s.model_dump() == {
        "db_url": "postgresql://shouwang@127.0.0.1/sw",
        "mqtt_url": "mqtt://server:pw@127.0.0.1:1884",
        "listen": "127.0.0.1:8100",
        "mqtt_prefix": "county/v1",
        "data_dir": tmp_path,
        "secret": GOOD,
        "admin_password": "Admin-Password-2026",
        "mqtt_client_id": "shouwang-a",
        "seed_file": tmp_path / "seed.json",
        "token_ttl": 3600.0,
        "session_expiry": 86400,
        "deadlines": Deadlines(accept={"panic": 45}).model_dump(),
        "deadline_interval": 2.0,
        "mqtt_auth_dir": tmp_path / "broker",
        "notify_targets": ("dingtalk://token1/", "json://127.0.0.1:9/hook"),
        "public_url": "https://duty.example.cn/",
        "sms_port": "/dev/gsm-modem",
        "notify_interval": 2.0,
        "mqtt_username": None,
        "mqtt_password": None,
        "mqtt_password_file": None,
        "mqtt_credentials": ("server", "pw"),
        "sia_listen": "0.0.0.0:12128",
    }
    assert (s.mqtt_login, s.mqtt_addr, s.client_id()) == (("server", "pw"), ("127.0.0.1", 1884), "shouwang-a")
    assert s.console_url == "https://duty.example.cn"
    assert Settings(secret=GOOD, listen="127.0.0.1:8100").console_url == "http://127.0.0.1:8100"
    assert s.deadlines.accept == {
        "panic": 45.0,
        "medical": 60.0,
        "fire": 60.0,
        "intrusion": 120.0,
        "default": 14400.0,
    }


def test_flags_win_over_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOUWANG_SECRET", GOOD)
    monkeypatch.setenv("SHOUWANG_DB", "sqlite:///from-env.db")
    monkeypatch.setenv("SHOUWANG_MQTT", "mqtt://127.0.0.1:1999")
    monkeypatch.setenv("SHOUWANG_LISTEN", "")  # empty counts as unset
    s = Settings.load(db_url="sqlite:///from-flag.db", listen=None)
    assert (s.db_url, s.mqtt_url, s.listen) == (
        "sqlite:///from-flag.db",
        "mqtt://127.0.0.1:1999",
        "127.0.0.1:8000",
    )
    assert Settings(db_url="sqlite:///kw.db").db_url == "sqlite:///kw.db"  # keywords over the environment


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SHOUWANG_TOKEN_TTL": "twelve hours"},
            "SHOUWANG_TOKEN_TTL: Input should be a valid number, unable to parse string as a number",
        ),
        ({"SHOUWANG_TOKEN_TTL": "0"}, "SHOUWANG_TOKEN_TTL: Input should be greater than 0"),
        (
            {"SHOUWANG_SESSION_EXPIRY": "-1"},
            "SHOUWANG_SESSION_EXPIRY: Input should be greater than or equal to 0",
        ),
        (
            {"SHOUWANG_SESSION_EXPIRY": "4294967296"},
            "SHOUWANG_SESSION_EXPIRY: Input should be less than or equal to 4294967295",
        ),
        (
            {"SHOUWANG_DEADLINE_INTERVAL": "600"},
            "SHOUWANG_DEADLINE_INTERVAL: Input should be less than or equal to 60",
        ),
        ({"SHOUWANG_MQTT": "mqtt://127.0.0.1:99999"}, "MQTT URL: bad port in 'mqtt://127.0.0.1:99999'"),
        (
            {"SHOUWANG_DEADLINES": '{"accept": {"panic": "soon"}}'},
            "SHOUWANG_DEADLINES.accept must map alarm classes to seconds > 0",
        ),
        (
            {"SHOUWANG_DEADLINES": '{"cancel_grace": true}'},
            "SHOUWANG_DEADLINES.cancel_grace must be a number > 0",
        ),
        (
            {"SHOUWANG_NOTIFY": "json://127.0.0.1:9/a nosuch://b"},
            "SHOUWANG_NOTIFY: apprise does not understand this URL (scheme 'nosuch')",
        ),
        (
            {"SHOUWANG_NOTIFY_INTERVAL": "-1"},
            "SHOUWANG_NOTIFY_INTERVAL: Input should be greater than or equal to 0",
        ),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"SHOUWANG_SECRET": GOOD, **env})
    assert str(caught.value) == message


def test_keyword_errors_are_config_errors_too() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(secret=GOOD, session_expiry="a week")
    assert (
        str(caught.value)
        == "SHOUWANG_SESSION_EXPIRY: Input should be a valid integer, unable to parse string as an integer"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SHOUWANG_DB": "mysql://x"},
            "database URL must be sqlite:///FILE or postgresql://..., got 'mysql://x'",
        ),
        ({"SHOUWANG_TOKEN_TTL": "-1"}, "SHOUWANG_TOKEN_TTL: Input should be greater than 0"),
    ],
)
def test_no_secret_is_generated_for_settings_that_cannot_work(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"SHOUWANG_DATA_DIR": str(tmp_path), **env})
    assert str(caught.value) == message
    assert list(tmp_path.iterdir()) == []


def test_deadlines_from_keywords_override_only_what_they_name() -> None:
    d = Deadlines(renotify={"default": 300}, yellow=0.5)
    assert d.model_dump() == {
        "accept": {"panic": 60.0, "medical": 60.0, "fire": 60.0, "intrusion": 120.0, "default": 14400.0},
        "dispatch": {"default": 600.0},
        "handle": {"default": 7200.0},
        "verify": {"default": 86400.0},
        "close": {"default": 86400.0},
        "renotify": {"panic": 60.0, "medical": 60.0, "fire": 60.0, "default": 300.0},
        "yellow": 0.5,
        "cancel_grace": 30.0,
        "gateway_offline": 600.0,
    }
    assert Deadlines.from_json('{"handle": {"fire": 1800}}').seconds("handle", "fire") == 1800.0
    with pytest.raises(ValueError, match="unknown key 'sla'"):  # pydantic's, in code
        Deadlines(sla=3)
