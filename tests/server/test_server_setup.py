"""Settings that fail fast, the generated secret, migrations on an empty database, the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from server.cli import main
from server.db.engine import Database
from server.db.migrate import head_revision
from server.errors import ConfigError
from server.settings import Settings, load_or_create_secret
from tests.server.srv_support import PASSWORD

GOOD = "k2V9q7Zr4mWx8tLp3bNc6hJd1sFg5aYe0uQi"

TABLES = {
    "regions",
    "stations",
    "gateways",
    "devices",
    "events",
    "cases",
    "case_events",
    "case_actions",
    "users",
    "broker_accounts",
    "sign_ins",
    "alembic_version",
}


@pytest.mark.parametrize("secret", ["", "short", "changeme", "changeme" * 5, "x" * 40, "secret" * 7])
def test_weak_or_placeholder_secret_is_refused(secret: str) -> None:
    with pytest.raises(ConfigError, match="SHOUWANG_SECRET"):
        Settings(secret=secret)


@pytest.mark.parametrize("password", ["admin", "changeme", "1234567890", "aaaaaaaaaaaa"])
def test_weak_admin_password_is_refused(password: str) -> None:
    with pytest.raises(ConfigError, match="SHOUWANG_ADMIN_PASSWORD"):
        Settings.load({"SHOUWANG_SECRET": GOOD, "SHOUWANG_ADMIN_PASSWORD": password})


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"SHOUWANG_DB": "mysql://x"}, "database URL"),
        ({"SHOUWANG_MQTT": "http://x"}, "MQTT URL"),
        ({"SHOUWANG_LISTEN": "8000"}, "HOST:PORT"),
        ({"SHOUWANG_MQTT_PREFIX": "sw/#"}, "prefix"),
    ],
)
def test_bad_settings_fail_fast(env: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.load({"SHOUWANG_SECRET": GOOD, **env})


def test_settings_from_environment_and_arguments() -> None:
    env = {
        "SHOUWANG_SECRET": GOOD,
        "SHOUWANG_DB": "sqlite:///a.db",
        "SHOUWANG_MQTT": "mqtt://127.0.0.1:1999",
        "SHOUWANG_LISTEN": "127.0.0.1:9000",
        "SHOUWANG_MQTT_PREFIX": "test/v1",
    }
    s = Settings.load(env, db_url="sqlite:///b.db")
    assert (s.db_url, s.mqtt_addr, s.listen_addr, s.mqtt_prefix, s.secret) == (
        "sqlite:///b.db",
        ("127.0.0.1", 1999),
        ("127.0.0.1", 9000),
        "test/v1",
        GOOD,
    )


def test_secret_is_generated_once_and_kept_private(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = "sqlite:///%s" % (tmp_path / "data" / "sw.db")
    first = Settings.load({}, db_url=url).secret
    path = tmp_path / "data" / "shouwang.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated a new secret" in caplog.text
    assert Settings.load({}, db_url=url).secret == first
    assert len(first) >= 32
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_or_create_secret(path.parent)


def test_postgres_without_secret_needs_a_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHOUWANG_DATA_DIR"):
        Settings.load({}, db_url="postgresql://postgres@127.0.0.1/x")
    s = Settings.load({"SHOUWANG_DATA_DIR": str(tmp_path)}, db_url="postgresql://postgres@127.0.0.1/x")
    assert (tmp_path / "shouwang.secret").read_text().strip() == s.secret


def test_migrate_an_empty_database(db_url: str) -> None:
    assert main(["migrate", "--db", db_url]) == 0
    assert main(["migrate", "--db", db_url]) == 0  # a second run is a no-op
    db = Database.open(db_url)
    try:
        assert TABLES <= set(inspect(db.engine).get_table_names())
        with db.read() as s:
            assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    finally:
        db.close()


def test_seed_command_is_idempotent(db_url: str, seed_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed", str(seed_file), "--db", db_url]) == 0
    assert main(["seed", str(seed_file), "--db", db_url]) == 0
    assert "regions=7" in capsys.readouterr().out
    db = Database.open(db_url)
    try:
        with db.read() as s:
            counts = {
                t: s.execute(text("SELECT count(*) FROM %s" % t)).scalar()
                for t in ("regions", "stations", "gateways", "devices", "users")
            }
    finally:
        db.close()
    assert counts == {"regions": 7, "stations": 2, "gateways": 2, "devices": 3, "users": 4}


def test_seed_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "sqlite:///%s" % (tmp_path / "x.db")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"regions": [{"path": "c01/t03", "name": "x", "level": "township"}]}))
    assert main(["seed", str(bad), "--db", url]) == 2
    assert "unknown region 'c01'" in capsys.readouterr().err
    bad.write_text(json.dumps({"users": [{"username": "u", "password": "changeme", "role": "viewer"}]}))
    assert main(["seed", str(bad), "--db", url]) == 2
    assert "password of u" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["seed", str(bad), "--db", url]) == 2
    assert PASSWORD not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        ('{"accept": {"panic": 0}}', "seconds > 0"),
        ('{"yellow": 1.5}', "below 1"),
        ('{"sla": 3}', "unknown key"),
    ],
)
def test_bad_deadline_settings_fail_fast(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Settings.load({"SHOUWANG_SECRET": GOOD, "SHOUWANG_DEADLINES": text})


def test_deadline_settings_from_environment() -> None:
    s = Settings.load({"SHOUWANG_SECRET": GOOD, "SHOUWANG_DEADLINES": '{"renotify": {"panic": 30}}'})
    assert (s.deadlines.seconds("renotify", "panic"), s.deadlines.seconds("accept", "panic")) == (30.0, 60.0)
