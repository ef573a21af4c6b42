"""The broker files the server generates, on a real Mosquitto started the way Debian runs it
(as root, dropping to the mosquitto user before it reads the password and ACL files):
each attack of one account on the others is refused, every legitimate use still works."""

from __future__ import annotations

import grp
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.payloads import encode_events
from server.app import create_app
from server.broker_files import Listener, TlsFiles, write_config
from server.data.regions import region_by_path
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Gateway
from server.mqtt_auth import (
    issue_credentials,
    issue_duty_account,
    issue_server_account,
    revoke_account,
    write_auth_files,
)
from server.seed import apply_seed
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port
from tests.server.broker_support import BrokerClient, make_tls_files, tls_refused
from tests.server.conftest import SECRET, SEED
from tests.server.srv_support import T0, FakeClock, FakeGateway, TestClient, Watcher, ev

TEMPLATE = Path(__file__).with_name("mosquitto_auth.conf.in")
VICTIM, ATTACKER = "gw-dongcun-01", "gw-xicun-01"


@pytest.fixture
def broker_home() -> Iterator[Path]:
    # Mosquitto drops to its own user, which cannot enter pytest's private temporary folders.
    home = Path(tempfile.mkdtemp(prefix="shouwang-broker-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home)


@dataclass
class Secured:
    broker: Mosquitto
    db_url: str
    auth: Path
    passwords: dict[str, str]

    def login(self, username: str, client_id: str = "") -> BrokerClient:
        client = BrokerClient(self.broker.port, username, self.passwords[username], client_id)
        assert client.next() == ("connect", 0)
        return client


def _issue_everything(db: Database, auth: Path, port: int) -> dict[str, str]:
    passwords: dict[str, str] = {}
    with db.write() as s:
        for gw_id in (VICTIM, ATTACKER):
            gw = s.get(Gateway, gw_id)
            assert gw is not None
            passwords[gw_id] = issue_credentials(gw)
        user, passwords["server.a"] = issue_server_account(s, "a", "test", T0)
        assert user == "server.a"
        user, passwords["duty.c01.t03"] = issue_duty_account(s, region_by_path(s, "c01/t03"), "test", T0)
        assert user == "duty.c01.t03"
        s.flush()
        write_config(auth, [Listener(port, "127.0.0.1")])
        write_auth_files(s, auth, "sw/v1")
    return passwords


@pytest.fixture
def secured(broker_home: Path) -> Iterator[Secured]:
    db_url = "sqlite:///%s" % (broker_home / "server.db")
    db = Database.open(db_url)
    upgrade(db.engine)
    with db.write() as s:
        apply_seed(s, SEED)
    port = free_port()
    try:
        passwords = _issue_everything(db, broker_home / "auth", port)
    finally:
        db.close()
    with Mosquitto(broker_home, port=port, template=TEMPLATE) as broker:
        yield Secured(broker, db_url, broker_home / "auth", passwords)


def _server(secured: Secured) -> TestClient:
    settings = Settings(
        db_url=secured.db_url,
        mqtt_url=secured.broker.url,
        mqtt_credentials=("server.a", secured.passwords["server.a"]),
        secret=SECRET,
        deadline_interval=0,
    )
    return TestClient(create_app(settings, clock=FakeClock()))


def test_files_belong_to_the_broker_group(secured: Secured) -> None:
    try:
        gid = grp.getgrnam("mosquitto").gr_gid
    except KeyError:
        pytest.skip("no mosquitto group on this machine")
    modes = {
        p.name: (stat.S_IMODE(p.stat().st_mode), p.stat().st_gid)
        for p in [secured.auth, *secured.auth.iterdir()]
    }
    assert modes == {
        "auth": (0o750, gid),
        "passwd": (0o640, gid),
        "acl": (0o640, gid),
        "shouwang.conf": (0o640, gid),
    }


def test_broker_cannot_read_files_outside_its_group(secured: Secured) -> None:
    """What the group ownership is for: the same files owned root:root stop the broker."""
    if os.geteuid() != 0:
        pytest.skip("only a broker started as root drops to the mosquitto user")
    secured.broker.stop()
    for path in [secured.auth, *secured.auth.iterdir()]:
        os.chown(path, 0, 0)
    run = subprocess.run(
        [secured.broker.binary, "-c", str(secured.broker.conf)], capture_output=True, text=True, timeout=30
    )
    assert run.returncode != 0
    assert 'Error: Unable to open pwfile "%s/passwd".' % secured.auth in run.stderr


def test_anonymous_wrong_password_and_unknown_user_are_refused(secured: Secured) -> None:
    port = secured.broker.port
    for user, password in [(None, None), ("gw-dongcun-01", "wrong"), ("nobody", "x" * 32)]:
        client = BrokerClient(port, user, password)
        assert client.next() == ("connect", 135)  # not authorized
        client.close()


def test_gateway_reaches_only_its_own_topics(secured: Secured) -> None:
    server = secured.login("server.a")
    assert server.subscribe("sw/v1/gw/+/events") == [1]
    victim = secured.login(VICTIM)
    assert victim.subscribe("sw/v1/gw/%s/#" % VICTIM) == [1]
    attacker = secured.login(ATTACKER)
    attacker.publish("sw/v1/gw/%s/events" % VICTIM, b"forged")
    attacker.publish("sw/v1/duty/c01/t03/alerts", b"forged alert")
    attacker.publish("sw/v1/gw/%s/ack" % VICTIM, b"forged ack")
    attacker.publish("sw/v1/gw/%s/events" % ATTACKER, b"mine")
    # The broker dropped the forgeries, so the first message the server sees is the real one.
    assert server.next() == ("sw/v1/gw/%s/events" % ATTACKER, b"mine")
    assert victim.received("sw/v1/gw/%s/status" % VICTIM) == []
    for c in (server, victim, attacker):
        c.close()


def test_duty_account_reads_its_own_subtree_and_writes_nothing(secured: Secured) -> None:
    duty = secured.login("duty.c01.t03")
    server = secured.login("server.a")
    # Mosquitto 2.0 grants every SUBSCRIBE and applies the ACL to each message it delivers.
    for wide in ("#", "sw/v1/duty/#", "sw/v1/duty/c01/+/alerts", "$share/g/sw/v1/duty/#"):
        assert duty.subscribe(wide) == [1]
    for topic in (
        "sw/v1/duty/c01/t05/v01/g1/alerts",
        "sw/v1/duty/c01/alerts",
        "sw/v1/duty/unassigned/alerts",
        "sw/v1/gw/%s/events" % VICTIM,
        "sw/v1/duty/c01/t03/v12/g4/alerts",
    ):
        server.publish(topic, b"alert")
    # Delivered in order: had any of the others passed, it would arrive first.
    assert duty.next() == ("sw/v1/duty/c01/t03/v12/g4/alerts", b"alert")
    assert server.subscribe("sw/v1/duty/#") == [1]
    duty.publish("sw/v1/duty/c01/t03/alerts", b"forged")
    assert server.received("sw/v1/duty/c01/t03/v12/alerts") == []
    for c in (duty, server):
        c.close()


def test_gateway_can_neither_kick_the_server_nor_share_its_events(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    """Client ids are bound to user names, and the servers' shared subscription group is not
    the documented ``shouwang``: a gateway that borrows the server's or another gateway's
    client id only moves its own session, and one that joins ``$share/shouwang/...`` takes
    nothing from the servers."""
    caplog.set_level(logging.WARNING, logger="server.ingest.mqtt")
    with _server(secured) as http:
        link = http.app.state.link  # type: ignore[attr-defined]
        assert link.wait_connected(10)
        victim = secured.login(VICTIM, client_id="shouwang-%s" % VICTIM)
        assert victim.subscribe("sw/v1/gw/%s/ack" % VICTIM) == [1]
        for _ in range(3):  # again and again
            secured.login(ATTACKER, client_id="server.a").close()
        attacker = secured.login(ATTACKER, client_id="shouwang-%s" % VICTIM)
        for topic_filter in (
            "$share/shouwang/sw/v1/gw/+/events",
            "$share/shouwang/sw/v1/gw/+/cmd/result",
            "sw/v1/gw/+/events",
            "#",
        ):
            assert attacker.subscribe(topic_filter) == [1]
        for seq in range(1, 7):
            victim.publish("sw/v1/gw/%s/events" % VICTIM, encode_events([ev(seq, "door_open")]))
        # Every event reaches the server and is acked; the victim was never disconnected.
        assert sorted(_acked(victim.next()) for _ in range(6)) == [1, 2, 3, 4, 5, 6]
        assert link.connected.is_set()
        assert [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()] == []
        assert attacker.received("sw/v1/gw/%s/status" % ATTACKER) == []
        for c in (attacker, victim):
            c.close()


def _acked(message: tuple[str, object]) -> int:
    topic, payload = message
    assert topic == "sw/v1/gw/%s/ack" % VICTIM and isinstance(payload, bytes), message
    ((lo, hi),) = json.loads(payload)["seqs"]
    assert lo == hi
    return int(lo)


def test_revoked_account_is_refused_after_the_broker_reloads(secured: Secured) -> None:
    duty = secured.login("duty.c01.t03")
    duty.close()
    db = Database.open(secured.db_url)
    try:
        with db.write() as s:
            revoke_account(s, "duty.c01.t03")
            write_auth_files(s, secured.auth, "sw/v1")
    finally:
        db.close()
    assert secured.broker.proc is not None
    secured.broker.proc.send_signal(signal.SIGHUP)
    refused = BrokerClient(secured.broker.port, "duty.c01.t03", secured.passwords["duty.c01.t03"])
    assert refused.next() == ("connect", 135)
    refused.close()


def test_tls_listener_with_a_certificate_from_our_own_ca(broker_home: Path) -> None:
    tls_dir, other_dir = broker_home / "tls", broker_home / "other-ca"
    ca, cert, key = make_tls_files(tls_dir)
    other_ca, _, _ = make_tls_files(other_dir, "Someone else's CA")
    db = Database.open("sqlite:///%s" % (broker_home / "server.db"))
    upgrade(db.engine)
    port, tls_port = free_port(), free_port()
    with db.write() as s:
        apply_seed(s, SEED)
        gw = s.get(Gateway, VICTIM)
        assert gw is not None
        password = issue_credentials(gw)
        s.flush()
        write_config(
            broker_home / "auth",
            [Listener(port, "127.0.0.1"), Listener(tls_port, "127.0.0.1", TlsFiles(cert, key))],
        )
        write_auth_files(s, broker_home / "auth", "sw/v1")
    db.close()
    with Mosquitto(broker_home, port=port, template=TEMPLATE):
        over_tls = BrokerClient(tls_port, VICTIM, password, ca_file=ca)
        assert over_tls.next() == ("connect", 0)
        assert over_tls.subscribe("sw/v1/gw/%s/ack" % VICTIM) == [1]
        over_tls.close()
        wrong = BrokerClient(tls_port, VICTIM, "wrong", ca_file=ca)
        assert wrong.next() == ("connect", 135)
        wrong.close()
        assert tls_refused(tls_port, other_ca) == "unable to get local issuer certificate"
        # A plain MQTT client on the TLS port gets no CONNACK, only a closed connection.
        plain = BrokerClient(tls_port, VICTIM, password)
        assert plain.next()[0] == "disconnect"
        plain.close()


def test_a_session_from_before_keeps_no_share_of_the_old_group(
    broker: Mosquitto, seed_file: Path, tmp_path: Path, watcher: Watcher
) -> None:
    """A server whose broker session still holds ``$share/shouwang/...`` from an older version
    leaves that group, so it does not get every event twice."""
    old = BrokerClient(broker.port, None, None, "server-from-before", clean_start=False)
    assert old.next() == ("connect", 0)
    assert old.subscribe("$share/shouwang/sw/v1/gw/+/events") == [1]
    old.close()
    settings = Settings(
        db_url="sqlite:///%s" % (tmp_path / "server.db"),
        mqtt_url=broker.url,
        mqtt_client_id="server-from-before",
        secret=SECRET,
        deadline_interval=0,
        seed_file=seed_file,
    )
    with TestClient(create_app(settings, clock=FakeClock())) as http:
        metrics = http.app.state.services.metrics  # type: ignore[attr-defined]
        assert http.app.state.link.wait_connected(10)  # type: ignore[attr-defined]
        gateway = FakeGateway(broker.url)
        for seq in range(1, 6):
            gateway.send([ev(seq, "door_open")])
        # Both copies of an event would be handled before the next event: once event 5 is
        # acked, every duplicate of events 1-4 would have been counted.
        while watcher.next("sw/v1/gw/")[1]["seqs"] != [[5, 5]]:
            pass
        gateway.close()
        assert (metrics.get("events_ingested"), metrics.get("events_duplicate")) == (5, 0)
