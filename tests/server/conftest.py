"""Server fixtures: a database per test (SQLite file, or a fresh PostgreSQL schema), the app
with an injected clock, and MQTT clients that watch what the server publishes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.db.engine import Database
from server.db.migrate import upgrade
from server.seed import apply_seed
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from tests.databases import KINDS, database_url
from tests.server.srv_support import PASSWORD, FakeClock, Running, TestClient, Watcher

SECRET = "test-secret-7f1c9a2be4d04c51a0f3e8d6b2c7a915"

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[108.0, 34.0], [109.0, 34.0], [109.0, 35.0], [108.0, 35.0], [108.0, 34.0]]],
}

SEED: dict[str, Any] = {
    "regions": [
        {"path": "c01", "name": "东县", "level": "county"},
        {"path": "c01/t03", "name": "河镇", "level": "township"},
        {"path": "c01/t03/v12", "name": "东村", "level": "village"},
        {"path": "c01/t03/v12/g4", "name": "第四网格", "level": "grid", "geometry": SQUARE},
        {"path": "c01/t05", "name": "山镇", "level": "township"},
        {"path": "c01/t05/v01", "name": "西村", "level": "village"},
        {"path": "c01/t05/v01/g1", "name": "第一网格", "level": "grid"},
    ],
    "stations": [
        {
            "code": "st-dongcun",
            "name": "东村服务站",
            "region": "c01/t03/v12/g4",
            "lat": 34.1,
            "lon": 108.9,
            "address": "东村 1 号",
        },
        {
            "code": "st-xicun",
            "name": "西村服务站",
            "region": "c01/t05/v01/g1",
            "lat": 34.5,
            "lon": 108.2,
            "address": "西村 9 号",
        },
    ],
    "gateways": [
        {"id": "gw-dongcun-01", "station": "st-dongcun"},
        {"id": "gw-xicun-01", "station": "st-xicun"},
    ],
    "devices": [
        {
            "id": "sn-00a3",
            "gateway": "gw-dongcun-01",
            "model": "sw-panic-button",
            "name": "王奶奶家 呼叫按钮",
            "region": None,
        },
        {"id": "sn-00a4", "gateway": "gw-dongcun-01", "model": "sw-door-sensor", "name": "小卖部 门磁"},
        {"id": "sn-0b01", "gateway": "gw-xicun-01", "model": "sw-panic-button", "name": "李爷爷家 呼叫按钮"},
    ],
    "users": [
        {"username": "duty-c01", "password": PASSWORD, "role": "duty_officer", "region": "c01"},
        {"username": "duty-t03", "password": PASSWORD, "role": "duty_officer", "region": "c01/t03"},
        {"username": "duty-t05", "password": PASSWORD, "role": "duty_officer", "region": "c01/t05"},
        {"username": "viewer-t03", "password": PASSWORD, "role": "viewer", "region": "c01/t03"},
    ],
}


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database.open(db_url)
    upgrade(database.engine)
    with database.write() as session:
        apply_seed(session, SEED)
    yield database
    database.close()


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(SEED, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(db_url: str, broker: Mosquitto, seed_file: Path, clock: FakeClock) -> Iterator[Running]:
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password="Admin-Password-2026",
        deadline_interval=0,
        mqtt_client_id="shouwang-test-%s" % uuid.uuid4().hex[:8],
        seed_file=seed_file,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        assert app.state.link.wait_connected(10), "server did not connect to the broker"
        yield Running(client, settings, broker, clock)


@pytest.fixture
def watcher(broker: Mosquitto) -> Iterator[Watcher]:
    w = Watcher(broker.url, ["sw/v1/gw/+/ack", "sw/v1/duty/#", "sw/v1/gw/+/cmd"])
    yield w
    w.close()
