"""The server says when the alarm path is down, and when nobody can sign in."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from server.app import NO_ADMIN_WARNING, create_app
from server.data.users import ensure_user
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from shouwang.processes import free_port
from tests.server.conftest import SECRET
from tests.server.srv_support import WAIT, FakeClock, Running, TestClient

CHROMIUM = Path("/usr/bin/chromium")


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT * 3
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.05)


def test_healthz_names_the_broker_when_it_is_unreachable(server: Running) -> None:
    c = server.client
    assert (c.get("/healthz").status_code, c.get("/healthz").json()["failing"]) == (200, [])
    server.broker.stop()
    _eventually(lambda: c.get("/healthz").status_code == 503, "503 without the broker")
    assert c.get("/healthz").json() == {
        "status": "failing",
        "failing": ["mqtt"],
        "database": True,
        "mqtt": False,
        "ingest_queue": 0,
        "outbox_unsent": 0,
    }
    server.broker.start()
    _eventually(lambda: c.get("/healthz").status_code == 200, "200 with the broker back")


def test_healthz_names_the_database_when_it_fails(server: Running) -> None:
    db = server.services.db
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE outbox RENAME TO outbox_gone")
    try:
        resp = server.client.get("/healthz")
        body = resp.json()
        assert (resp.status_code, body["status"], body["failing"]) == (503, "failing", ["database"])
        assert resp.json()["outbox_unsent"] is None
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE outbox_gone RENAME TO outbox")
    assert server.client.get("/healthz").status_code == 200


def _settings(db_url: str, broker: Mosquitto, seed_file: Path) -> Settings:
    return Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password=None,
        deadline_interval=0,
        mqtt_client_id="shouwang-noadmin-%s" % uuid.uuid4().hex[:8],
        seed_file=seed_file,
    )


def test_no_admin_is_announced_at_start_and_to_the_sign_in_page(
    db_url: str, broker: Mosquitto, seed_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.app")
    app = create_app(_settings(db_url, broker, seed_file), clock=FakeClock())
    with TestClient(app) as client:
        assert [r.getMessage() for r in caplog.records if r.name == "server.app"] == list(NO_ADMIN_WARNING)
        assert client.get("/api/v1/setup").json() == {"admin_missing": True}
        with app.state.services.db.write() as s:
            ensure_user(s, "chief", "Chief-Password-2026", "admin", None, FakeClock()())
        assert client.get("/api/v1/setup").json() == {"admin_missing": False}


@pytest.fixture
def served_without_admin(db_url: str, broker: Mosquitto, seed_file: Path) -> Iterator[tuple[str, object]]:
    app = create_app(_settings(db_url, broker, seed_file))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        _eventually(lambda: server.started or not thread.is_alive(), "uvicorn to start")
        assert server.started
        yield "http://127.0.0.1:%d" % port, app
    finally:
        server.should_exit = True
        thread.join(10)


def test_sign_in_page_warns_when_there_is_no_admin(served_without_admin: tuple[str, object]) -> None:
    base, app = served_without_admin
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at %s: install it with `apt-get install -y chromium`" % CHROMIUM)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_context(base_url=base).new_page()
            page.goto("/")
            warning = page.locator("#setup-warning")
            expect(warning).to_be_visible()
            expect(warning).to_contain_text("没有管理员账号")
            page.click("#lang")
            expect(warning).to_contain_text("no admin account")
            with app.state.services.db.write() as s:  # type: ignore[attr-defined]
                ensure_user(s, "chief", "Chief-Password-2026", "admin", None, FakeClock()())
            page.reload()
            expect(page.locator("#login")).to_be_visible()
            expect(warning).to_be_hidden()
        finally:
            browser.close()
