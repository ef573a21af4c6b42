"""Broker accounts, the text of the files written for Mosquitto, the CLI that issues them, and
the server's own broker login (the real broker is in test_broker_security)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from protocol.errors import ProtocolError
from protocol.topics import Topics
from server.broker_files import Listener, TlsFiles, config_text, parse_listener
from server.broker_login import broker_login
from server.cli import main
from server.data.regions import region_by_path
from server.db.engine import Database
from server.db.models import BrokerAccount, Gateway
from server.errors import ConfigError, Conflict, Invalid, NotFound
from server.mqtt_auth import (
    BrokerUser,
    acl_text,
    broker_users,
    duty_username,
    issue_duty_account,
    issue_server_account,
    mosquitto_hash,
    passwd_text,
    revoke_account,
    server_username,
    write_auth_files,
)
from server.settings import Settings
from tests.server.conftest import SECRET
from tests.server.srv_support import T0

HASH = "$7$101$AAAAAAAAAAAAAAAA$" + "B" * 88


def test_mosquitto_hash_format() -> None:
    h = mosquitto_hash("pw", salt=b"\x00" * 12)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(h.split("$")[-1]) == 88


def test_account_names_never_meet_gateway_ids() -> None:
    assert server_username("county-1") == "server.county-1"
    assert duty_username("c01/t03") == "duty.c01.t03"
    assert duty_username(None) == "duty._all"
    for bad in ("", "A", "a.b", "a/b", "x" * 33, "-a"):
        with pytest.raises(Invalid, match="server name"):
            server_username(bad)


def test_acl_and_passwd_text() -> None:
    db_users = [
        BrokerUser("server.a", HASH, ("topic readwrite sw/v1/#", "topic read $SYS/#")),
        BrokerUser("duty.c01.t03", HASH, ("topic read sw/v1/duty/c01/t03/#",)),
    ]
    assert acl_text(db_users) == (
        "# Written by the Shouwang server; edits are overwritten.\n"
        "\n"
        "user server.a\n"
        "topic readwrite sw/v1/#\n"
        "topic read $SYS/#\n"
        "\n"
        "user duty.c01.t03\n"
        "topic read sw/v1/duty/c01/t03/#\n"
    )
    assert passwd_text(db_users) == "server.a:%s\nduty.c01.t03:%s\n" % (HASH, HASH)


def test_every_account_gets_its_own_rules(db: Database) -> None:
    with db.write() as s:
        issue_duty_account(s, region_by_path(s, "c01/t05"), "admin", T0)
        issue_duty_account(s, None, "admin", T0)
        issue_server_account(s, "b", "cli:root", T0)
        gw = s.get(Gateway, "gw-xicun-01")
        assert gw is not None
        gw.secret_hash = HASH
        s.flush()
        users = broker_users(s, "sw/v1")
    assert [(u.username, u.rules) for u in users] == [
        ("server.b", ("topic readwrite sw/v1/#", "topic read $SYS/#")),
        ("duty._all", ("topic read sw/v1/duty/#",)),
        ("duty.c01.t05", ("topic read sw/v1/duty/c01/t05/#",)),
        (
            "gw-xicun-01",
            (
                "topic write sw/v1/gw/gw-xicun-01/events",
                "topic readwrite sw/v1/gw/gw-xicun-01/status",
                "topic write sw/v1/gw/gw-xicun-01/cmd/result",
                "topic write sw/v1/gw/gw-xicun-01/actions",
                "topic read sw/v1/gw/gw-xicun-01/ack",
                "topic read sw/v1/gw/gw-xicun-01/cmd",
                "topic read sw/v1/gw/gw-xicun-01/actions/ack",
            ),
        ),
    ]


def test_reissue_replaces_the_password_and_revoke_removes_the_account(db: Database) -> None:
    with db.write() as s:
        _, first = issue_server_account(s, "a", "cli:root", T0)
        _, second = issue_server_account(s, "a", "cli:root", T0)
        hashes = [a.secret_hash for a in s.scalars(select(BrokerAccount))]
        assert first != second and len(hashes) == 1
        revoke_account(s, "server.a")
        assert list(s.scalars(select(BrokerAccount))) == []
        with pytest.raises(NotFound, match=r"server\.a not found"):
            revoke_account(s, "server.a")


def test_an_older_server_login_is_kept_but_may_not_be_a_gateway_id(db: Database, tmp_path: Path) -> None:
    with db.write() as s:
        passwd, acl = write_auth_files(s, tmp_path / "auth", "sw/v1", "shouwang-server", "Broker-Pass-99")
        assert passwd.read_text().startswith("shouwang-server:$7$101$")
        assert "user shouwang-server\ntopic readwrite sw/v1/#\n" in acl.read_text()
        gw = s.get(Gateway, "gw-xicun-01")
        assert gw is not None
        gw.secret_hash = HASH
        s.flush()
        with pytest.raises(Conflict, match="server-credentials"):
            write_auth_files(s, tmp_path / "auth", "sw/v1", "gw-xicun-01", "Broker-Pass-99")


def test_config_snippet_text() -> None:
    text = config_text(
        Path("/srv/broker"),
        [
            Listener(1883, "127.0.0.1"),
            Listener(
                8883, None, TlsFiles(Path("/etc/b/cert.pem"), Path("/etc/b/key.pem"), Path("/etc/b/ca.pem"))
            ),
        ],
        512 * 1024,
    )
    assert text == (
        "# Written by the Shouwang server (shouwang server broker-config); edits are overwritten.\n"
        "# Include it from mosquitto.conf: include_dir /srv/broker\n"
        "per_listener_settings false\n"
        "allow_anonymous false\n"
        "password_file /srv/broker/passwd\n"
        "acl_file /srv/broker/acl\n"
        "max_packet_size 524288\n"
        "\n"
        "listener 1883 127.0.0.1\n"
        "use_username_as_clientid true\n"
        "\n"
        "listener 8883\n"
        "use_username_as_clientid true\n"
        "certfile /etc/b/cert.pem\n"
        "keyfile /etc/b/key.pem\n"
        "cafile /etc/b/ca.pem\n"
        "tls_version tlsv1.2\n"
    )


@pytest.mark.parametrize(
    ("listeners", "size", "match"),
    [([], 1 << 20, "at least one listener"), ([Listener(1883)], 1000, "max packet size")],
)
def test_config_snippet_refuses(listeners: list[Listener], size: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_text(Path("/srv/broker"), listeners, size)


def test_listener_parsing() -> None:
    assert [parse_listener(v) for v in ("1883", "0.0.0.0:8883", "[::1]:1883")] == [
        (None, 1883),
        ("0.0.0.0", 8883),
        ("::1", 1883),
    ]
    for bad in ("", "x", ":1883", "host:0", "host:70000"):
        with pytest.raises(ConfigError, match=r"\[HOST:\]PORT"):
            parse_listener(bad)


def _lines(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_cli_issues_server_and_duty_accounts_and_writes_the_files(
    db_url: str,
    db: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOUWANG_MQTT", raising=False)
    auth = tmp_path / "auth"
    assert main(["server-credentials", "county-a", "--db", db_url, "--auth-dir", str(auth)]) == 0
    server = _lines(capsys.readouterr().out)
    assert main(["duty-credentials", "c01/t03", "--db", db_url, "--auth-dir", str(auth)]) == 0
    duty = _lines(capsys.readouterr().out)
    assert (server["username"], duty["username"]) == ("server.county-a", "duty.c01.t03")
    assert len(server["password"]) == len(duty["password"]) == 32
    passwd = auth.joinpath("passwd").read_text()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["server.county-a", "duty.c01.t03"]
    assert stat.S_IMODE(auth.joinpath("passwd").stat().st_mode) == 0o640
    args = ["broker-config", "--db", db_url, "--auth-dir", str(auth), "--listen", "127.0.0.1:1883"]
    assert main([*args, "--tls-listen", "8883", "--tls-cert", "c.pem", "--tls-key", "k.pem"]) == 0
    assert capsys.readouterr().out == "wrote %s\n" % auth.joinpath("shouwang.conf").resolve()
    conf = auth.joinpath("shouwang.conf").read_text()
    assert "listener 1883 127.0.0.1\nuse_username_as_clientid true\n" in conf
    assert "listener 8883\nuse_username_as_clientid true\ncertfile %s\n" % Path("c.pem").resolve() in conf


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["duty-credentials", "c01/t99"], "unknown region 'c01/t99'"),
        (
            ["server-credentials", "Bad.Name"],
            "server name 'Bad.Name': 1-32 lower-case letters, digits and '-'",
        ),
        (["gateway-credentials", "gw-nowhere-01"], "gateway gw-nowhere-01 is not registered"),
        (["broker-config"], "broker-config needs --auth-dir (or SHOUWANG_MQTT_AUTH_DIR)"),
        (
            ["broker-config", "--auth-dir", "x"],
            "give the broker a listener: --listen [HOST:]PORT and/or --tls-listen",
        ),
        (
            ["broker-config", "--auth-dir", "x", "--tls-listen", "8883"],
            "--tls-listen needs --tls-cert and --tls-key",
        ),
    ],
)
def test_cli_errors_are_clear(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOUWANG_MQTT_AUTH_DIR", raising=False)
    assert main([*args, "--db", "sqlite:///%s" % (tmp_path / "x.db")]) == 2
    assert capsys.readouterr().err == "shouwang server: %s\n" % message


def test_duty_credentials_for_the_whole_tree(
    db_url: str, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["duty-credentials", "/", "--db", db_url]) == 0
    assert _lines(capsys.readouterr().out)["username"] == "duty._all"


def test_server_login_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("From-The-File-1\n")
    secret.chmod(0o640)
    url = "mqtt://127.0.0.1:1883"
    assert broker_login({}, url) is None
    assert broker_login({}, "mqtt://old:In%40Url@127.0.0.1") == ("old", "In@Url")
    assert broker_login({"SHOUWANG_MQTT_USERNAME": "server.a", "SHOUWANG_MQTT_PASSWORD": "Env-1"}, url) == (
        "server.a",
        "Env-1",
    )
    env = {"SHOUWANG_MQTT_USERNAME": "server.a", "SHOUWANG_MQTT_PASSWORD_FILE": str(secret)}
    assert broker_login({**env, "SHOUWANG_MQTT_PASSWORD": "ignored"}, url) == ("server.a", "From-The-File-1")
    settings = Settings.load({"SHOUWANG_SECRET": SECRET, **env})
    assert (settings.mqtt_login, settings.client_id()) == (("server.a", "From-The-File-1"), "server.a")
    assert "From-The-File-1" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("pw\n", 0o644, "readable by everyone"),
        ("\n", 0o600, "is empty"),
        (None, 0o600, "cannot read SHOUWANG_MQTT_PASSWORD_FILE"),
    ],
)
def test_server_password_file_problems_stop_the_start(
    tmp_path: Path, content: str | None, mode: int, message: str
) -> None:
    path = tmp_path / "mqtt-password"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    env = {
        "SHOUWANG_SECRET": SECRET,
        "SHOUWANG_MQTT_USERNAME": "server.a",
        "SHOUWANG_MQTT_PASSWORD_FILE": str(path),
    }
    with pytest.raises(ConfigError, match=message):
        Settings.load(env)


def test_a_password_without_a_user_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="SHOUWANG_MQTT_USERNAME"):
        broker_login({"SHOUWANG_MQTT_PASSWORD": "x"}, "mqtt://127.0.0.1")


def test_share_group_is_per_installation_and_not_the_documented_one() -> None:
    one, same, other = (Settings(secret=s).mqtt_share_group for s in (SECRET, SECRET, SECRET[::-1]))
    assert one == same != other
    assert one.startswith("sw-") and len(one) == 27 and one != "shouwang"


@pytest.mark.parametrize("group", ["", "a/b", "a+", "#"])
def test_share_group_must_be_one_topic_level(group: str) -> None:
    with pytest.raises(ProtocolError, match="bad_share_group"):
        Topics("sw/v1", group)
