"""A broker set up as in production: no anonymous access, one account per gateway, per server
instance and per duty room, each bound to its own topics (the files `shouwang server
broker-config` writes, from the server's database)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from server.broker_files import Listener, write_config
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Gateway
from server.mqtt_auth import issue_credentials, issue_duty_account, issue_server_account, write_auth_files
from server.seed import apply_seed
from shouwang.demo import SEED
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port

TEMPLATE = Path(__file__).resolve().parent.parent / "server" / "mosquitto_auth.conf.in"
SERVER_ACCOUNT = "chaos"


@dataclass(frozen=True)
class Logins:
    """user name -> password, for every account the stack uses."""

    passwords: dict[str, str]

    def login(self, username: str) -> tuple[str, str]:
        return username, self.passwords[username]

    @property
    def server(self) -> tuple[str, str]:
        return self.login("server.%s" % SERVER_ACCOUNT)

    @property
    def duty(self) -> tuple[str, str]:
        return self.login("duty._all")


def issue_accounts(db_url: str, auth: Path, port: int) -> Logins:
    """Seed the server's database as the demo does, issue every account, write the broker files."""
    db = Database.open(db_url)
    try:
        upgrade(db.engine)
        now = datetime.now(UTC)
        passwords: dict[str, str] = {}
        with db.write() as s:
            apply_seed(s, json.loads(SEED.read_text(encoding="utf-8")))
            s.flush()
            for gateway in s.scalars(select(Gateway)):
                passwords[gateway.id] = issue_credentials(gateway)
            for username, password in (issue_server_account(s, SERVER_ACCOUNT, "chaos", now),
                                       issue_duty_account(s, None, "chaos", now)):
                passwords[username] = password
            s.flush()
            write_config(auth, [Listener(port, "127.0.0.1")])
            write_auth_files(s, auth, "sw/v1")
    finally:
        db.close()
    return Logins(passwords)


@contextmanager
def secured_broker(db_url: str) -> Iterator[tuple[Mosquitto, Logins]]:
    # Mosquitto started as root drops to its own user, which cannot enter pytest's private folders.
    home = Path(tempfile.mkdtemp(prefix="shouwang-chaos-broker-"))
    home.chmod(0o755)
    try:
        port = free_port()
        logins = issue_accounts(db_url, home / "auth", port)
        with Mosquitto(home, port=port, template=TEMPLATE) as broker:
            yield broker, logins
    finally:
        shutil.rmtree(home, ignore_errors=True)
