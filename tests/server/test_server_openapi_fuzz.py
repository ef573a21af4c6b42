"""schemathesis against the live server's /openapi.json, on SQLite and PostgreSQL.

The real server (uvicorn on a loopback port, Mosquitto, the seeded database) is called as an
admin of the whole tree with generated requests, valid and invalid, for every operation, and
must never answer 5xx nor anything /openapi.json does not describe. Examples are bounded so
each database's run stays under a minute.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
import uvicorn
from schemathesis import Case

from server.app import create_app
from server.settings import Settings
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from shouwang.processes import free_port
from tests.conftest import TEST_BROKER_CONF
from tests.databases import KINDS, database_url
from tests.server.conftest import SECRET, SEED

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "Admin-Password-2026"
MAX_EXAMPLES = 8  # per operation and generation mode, with the coverage phase on top


@dataclass
class Live:
    base: str
    token: str


@pytest.fixture(scope="module", params=KINDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("fuzz-%s" % request.param)
    seed = tmp / "seed.json"
    seed.write_text(json.dumps(SEED, ensure_ascii=False), encoding="utf-8")
    broker_dir = tmp / "broker"
    with database_url(request.param, tmp) as url, Mosquitto(broker_dir, template=TEST_BROKER_CONF) as broker:
        settings = Settings(
            db_url=url,
            mqtt_url=broker.url,
            secret=SECRET,
            admin_password=ADMIN_PASSWORD,
            deadline_interval=0,
            mqtt_client_id="shouwang-fuzz-%s" % uuid.uuid4().hex[:8],
            seed_file=seed,
        )
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
            )
        )
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        try:
            for _ in range(200):
                if server.started or not thread.is_alive():
                    break
                thread.join(0.05)
            assert server.started, "uvicorn did not start"
            base = "http://127.0.0.1:%d" % port
            resp = httpx.post(
                base + "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert resp.status_code == 200, resp.text
            assert httpx.get(base + "/openapi.json").json() == OPENAPI
            yield Live(base, resp.json()["access_token"])
        finally:
            server.should_exit = True
            thread.join(10)


# The document the server serves at /openapi.json (checked against the live one below).
OPENAPI = create_app(Settings(secret=SECRET)).openapi()
schema = schemathesis.openapi.from_dict(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            # No 5xx, and every answer is one the document describes (status, type, body).
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
            },
        }
    ),
).exclude(path="/api/v1/stream")  # an event stream never ends; tests/server/test_live_push.py covers it


@schema.parametrize()
def test_every_answer_is_documented_and_none_is_5xx(case: Case, live: Live) -> None:
    case.call_and_validate(base_url=live.base, headers={"Authorization": "Bearer " + live.token})
