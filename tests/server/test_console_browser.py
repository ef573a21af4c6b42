"""The duty-room console in a real Chromium against the real server (uvicorn, SQLite, Mosquitto).

Cases reach the board the way they do in production: a gateway publishes events over MQTT,
the server's ingest stores them and opens cases, the page polls the REST API.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from server.app import create_app
from server.console import mount_console
from server.settings import Settings
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from shouwang.processes import free_port
from tests.conftest import REPO, TEST_BROKER_CONF
from tests.server.conftest import SECRET, SEED
from tests.server.srv_support import PASSWORD, FakeGateway, Watcher, ev

pytestmark = pytest.mark.slow  # a real chromium per test; ./dev test --fast leaves them out

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The docs' picture is refreshed on request only, so a test run leaves the work tree clean.
DOCS_SCREENSHOT = REPO / "docs" / "console.png"
REFRESH_SCREENSHOT = os.environ.get("SHOUWANG_CONSOLE_SCREENSHOT") == "1"
UI_WAIT_MS = 10_000  # upper bound for the page to show something; never a timing assertion
_seqs = itertools.count(1)


class ShiftedClock:
    """The real time, or a time in the past while a case is opened 'a while ago'.

    The browser and the server share the machine's clock, so the page's deadline colours can
    only be exercised by opening cases in the past; the page itself is never time-travelled.
    """

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@dataclass
class Served:
    base: str
    broker: Mosquitto
    watcher: Watcher
    clock: ShiftedClock

    def ingest(self, kind: str, device: str, gateway: str = "gw-dongcun-01", ago: float = 0.0) -> int:
        """Send one event as a gateway would; return the id of the open case it landed in."""
        gw = FakeGateway(self.broker.url, gateway)
        self.clock.shift = -timedelta(seconds=ago)
        try:
            at = self.clock()
            gw.send([ev(next(_seqs), kind, device, gateway, at=at, device_seq=next(_seqs))])
            self.watcher.next("sw/v1/gw/%s/ack" % gateway)
        finally:
            self.clock.shift = timedelta(0)
            gw.close()
        cases = self.call("admin", "GET", "/api/v1/cases", params={"state": "open", "device": device})
        return max(int(c["id"]) for c in cases.json()["items"] if c["kind"] == kind)

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One REST call as ``user``, the way another officer's browser would make it."""
        password = "Admin-Password-2026" if user == "admin" else PASSWORD
        with httpx.Client(base_url=self.base) as client:
            resp = client.post("/api/v1/auth/token", data={"username": user, "password": password})
            assert resp.status_code == 200, resp.text
            headers = {"Authorization": "Bearer " + resp.json()["access_token"]}
            return client.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("console")
    seed = tmp / "seed.json"
    seed.write_text(json.dumps(SEED, ensure_ascii=False), encoding="utf-8")
    with Mosquitto(tmp / "broker", template=TEST_BROKER_CONF) as broker:
        settings = Settings(
            db_url="sqlite:///%s" % (tmp / "server.db"),
            mqtt_url=broker.url,
            secret=SECRET,
            admin_password="Admin-Password-2026",
            deadline_interval=0,
            mqtt_client_id="shouwang-console-%s" % uuid.uuid4().hex[:8],
            seed_file=seed,
        )
        clock = ShiftedClock()
        app = create_app(settings, clock=clock)
        mount_console(app)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
        )
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        watcher = Watcher(broker.url, ["sw/v1/gw/+/ack"])
        try:
            for _ in range(200):
                if server.started or not thread.is_alive():
                    break
                thread.join(0.05)
            assert server.started, "uvicorn did not start"
            assert app.state.link.wait_connected(10), "server did not connect to the broker"
            yield Served("http://127.0.0.1:%d" % port, broker, watcher, clock)
        finally:
            watcher.close()
            server.should_exit = True
            thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at %s: install it with `apt-get install -y chromium`" % CHROMIUM)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    # A fresh context per test: its own sessionStorage (token) and localStorage (language).
    context = browser.new_context(viewport={"width": 1600, "height": 900}, base_url=served.base)
    context.set_default_timeout(UI_WAIT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], "JavaScript errors in the console page: %s" % errors


def sign_in(page: Page, user: str, password: str = PASSWORD) -> None:
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#board")).to_be_visible()


def test_board_shows_the_alarm_and_accepting_changes_its_state(
    served: Served, page: Page, tmp_path: Path
) -> None:
    panic = served.ingest("panic", "sn-00a3")
    battery = served.ingest("low_battery", "sn-00a4")

    page.goto("/")
    assert page.url == served.base + "/console/"
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    sign_in(page, "duty-t03")

    alarm = page.locator('#case-rows tr[data-case-id="%d"]' % panic)
    expect(alarm).to_have_class("case alarm unaccepted")
    for text in ("紧急呼叫", "待受理", "王奶奶家 呼叫按钮", "东村服务站", "河镇 › 东村 › 第四网格", "正常"):
        expect(alarm).to_contain_text(text)
    # The county is above this officer's region: its name is not theirs to see.
    expect(alarm.locator(".region")).to_have_text("河镇 › 东村 › 第四网格")
    expect(alarm.locator(".deadline")).to_have_attribute("data-deadline", "green")
    fault = page.locator('#case-rows tr[data-case-id="%d"]' % battery)
    expect(fault).to_contain_text("电量低")
    expect(fault).to_have_class("case unaccepted")
    # Newest first.
    assert page.locator("#case-rows tr").first.get_attribute("data-case-id") == str(battery)
    # One cue for the unaccepted alarm already waiting at sign-in; the sign-in click allowed sound.
    expect(page.locator("body")).to_have_attribute("data-cues", "1")
    expect(page.locator("body")).to_have_attribute("data-played", "1")

    alarm.click()
    detail = page.locator("#detail")
    expect(detail.locator("#detail-title")).to_have_text("案件 #%d · 紧急呼叫" % panic)
    expect(detail.locator("table.events")).to_contain_text("紧急呼叫")
    shot = DOCS_SCREENSHOT if REFRESH_SCREENSHOT else tmp_path / "console.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    expect(detail.locator("button[data-action=dispatch]")).to_have_count(0)
    page.fill("#action-note", "电话已联系老人")
    detail.locator("button[data-action=accept]").click()

    expect(page.locator("#detail-message")).to_have_text("已执行：受理")
    expect(detail.locator(".info-state")).to_have_text("已受理")
    audit = detail.locator("table.audit tbody tr")
    expect(audit).to_have_count(2)
    expect(audit.first).to_contain_text("立案")
    audit = audit.last
    expect(audit).to_contain_text("受理")
    expect(audit).to_contain_text("待受理 → 已受理")
    expect(audit).to_contain_text("duty-t03")
    expect(audit).to_contain_text("电话已联系老人")
    expect(detail.locator("button[data-action=accept]")).to_have_count(0)
    expect(detail.locator("button[data-action=dispatch]")).to_have_count(1)
    expect(alarm.locator(".state")).to_have_text("已受理")
    assert served.call("duty-c01", "GET", "/api/v1/cases/%d" % panic).json()["state"] == "accepted"

    # A new alarm while the board is open sounds again.
    served.ingest("medical", "sn-00a3")
    expect(page.locator("body")).to_have_attribute("data-cues", "2")
    expect(page.locator("body")).to_have_attribute("data-played", "2")
    expect(page.locator("#announce")).to_contain_text("新警情：医疗求助")

    # Muted: the cue is still counted and announced, but no sound is made; the choice is kept.
    sound = page.locator("#sound")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(sound).to_have_text("声音：关（已静音）")
    served.ingest("medical", "sn-00a4")
    expect(page.locator("body")).to_have_attribute("data-cues", "3")
    expect(page.locator("#announce")).to_contain_text("新警情：医疗求助，小卖部 门磁")
    expect(page.locator("body")).to_have_attribute("data-played", "2")
    page.reload()
    expect(page.locator("#sound")).to_have_attribute("aria-pressed", "true")


def test_deadline_colours_follow_the_time_allowed(served: Served, page: Page) -> None:
    # Accept within 60 s for a fire, 120 s for an intrusion (the server's defaults).
    fresh = served.ingest("fire", "sn-0b01", "gw-xicun-01")
    near = served.ingest("intrusion", "sn-0b01", "gw-xicun-01", ago=100)  # 83 % of 120 s
    late = served.ingest("panic", "sn-0b01", "gw-xicun-01", ago=75)  # past its 60 s

    page.goto("/console/")
    sign_in(page, "duty-t05")
    badge = 'tr[data-case-id="%d"] .deadline'
    expect(page.locator(badge % fresh)).to_have_attribute("data-deadline", "green")
    expect(page.locator(badge % near)).to_have_attribute("data-deadline", "yellow")
    expect(page.locator(badge % near)).to_contain_text("临近时限")
    expect(page.locator(badge % late)).to_have_attribute("data-deadline", "red")
    expect(page.locator(badge % late)).to_contain_text("已超时")
    expect(page.locator(badge % late)).to_contain_text("超时")
    expect(page.locator('tr[data-case-id="%d"] .age' % late)).to_contain_text("1分")

    # Polls and the clock update rows in place: the row under the officer's pointer stays the
    # same element, so a click is never lost to a re-render.
    row = page.locator('tr[data-case-id="%d"]' % late).element_handle()
    updated = page.locator("#board-updated")
    expect(updated).not_to_have_text(updated.text_content() or "")
    assert row.evaluate("tr => tr.isConnected")


def test_an_action_someone_else_made_illegal_shows_the_409_message(served: Served, page: Page) -> None:
    case_id = served.ingest("fire", "sn-00a4")
    page.clock.install()
    page.goto("/console/#/case/%d" % case_id)
    sign_in(page, "duty-t03")
    accept = page.locator("#detail button[data-action=accept]")
    expect(accept).to_be_visible()

    # Freeze the page's polling, so the other officer's accept is not seen before the click.
    page.clock.pause_at(datetime.now(UTC).timestamp() + 1)
    expect(page.locator("body")).to_have_attribute("data-polling", "0")
    other = served.call("duty-c01", "POST", "/api/v1/cases/%d/actions" % case_id, json={"action": "accept"})
    assert other.status_code == 200
    accept.click()

    message = page.locator("#detail-message")
    expect(message).to_have_attribute("data-status", "409")
    expect(message).to_have_attribute("role", "alert")
    expect(message).to_have_text(
        "操作未执行：案件当前为「已受理」，不能「受理」。可能其他值班员已处理，案件已刷新。"
    )
    expect(page.locator("#detail .info-state")).to_have_text("已受理")
    expect(accept).to_have_count(0)
    expect(page.locator("#detail table.audit")).to_contain_text("duty-c01")


def test_language_toggle_switches_and_is_remembered(served: Served, page: Page) -> None:
    page.goto("/console/")
    submit = page.locator("#login-form button[type=submit]")
    expect(submit).to_have_text("登录")
    expect(page.locator("#lang")).to_have_text("English")

    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(submit).to_have_text("Sign in")
    page.fill("#username", "duty-t03")
    page.fill("#password", "not-the-password")
    submit.click()
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")

    page.reload()
    expect(submit).to_have_text("Sign in")
    assert page.title() == "Shouwang · Duty room"
    sign_in(page, "duty-t03")
    expect(page.locator("#board-title")).to_have_text("Open cases")
    expect(page.locator("#cases thead")).to_contain_text("Deadline")

    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#board-title")).to_have_text("未结案件")
    expect(page.locator("#cases thead")).to_contain_text("时限")
    expect(page.locator("#lang")).to_have_text("English")


def test_an_officer_of_another_township_does_not_see_the_case(served: Served, page: Page) -> None:
    theirs = served.ingest("intrusion", "sn-0b01", "gw-xicun-01")
    hidden = served.ingest("intrusion", "sn-00a3")

    page.goto("/console/")
    sign_in(page, "duty-t05")
    mine = page.locator('#case-rows tr[data-case-id="%d"]' % theirs)
    expect(mine).to_contain_text("李爷爷家 呼叫按钮")
    expect(mine).to_contain_text("山镇 › 西村 › 第一网格")
    expect(page.locator('#case-rows tr[data-case-id="%d"]' % hidden)).to_have_count(0)
    for other in ("王奶奶家", "东村", "河镇"):
        expect(page.locator("body")).not_to_contain_text(other)

    page.goto("/console/#/case/%d" % hidden)
    expect(page.locator("#detail [data-not-found]")).to_have_text("找不到该案件（可能不在您的管辖范围内）。")
    expect(page.locator("#detail .actions")).to_have_count(0)


def test_an_expired_or_forged_token_sends_the_officer_back_to_sign_in(served: Served, page: Page) -> None:
    page.context.add_init_script(
        "sessionStorage.setItem('sw.token', 'abc.def'); sessionStorage.setItem('sw.user', 'x')"
    )
    page.goto("/console/")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text("登录已过期，请重新登录。")
    expect(page.locator("#work")).to_be_hidden()


def test_a_lost_connection_is_shown_and_the_last_board_kept(served: Served, page: Page) -> None:
    case_id = served.ingest("tamper", "sn-00a4")
    page.goto("/console/")
    sign_in(page, "duty-c01")
    case = page.locator('#case-rows tr[data-case-id="%d"]' % case_id)
    expect(case).to_contain_text("防拆报警")

    # What a duty room sees when a proxy or the line drops the API's answers.
    page.route("**/api/v1/cases?*", lambda route: route.abort("connectionreset"))
    status = page.locator("#board-status")
    expect(status).to_contain_text("连接中断")
    expect(status).to_contain_text("数据可能已过时")
    expect(case).to_contain_text("防拆报警")

    page.unroute("**/api/v1/cases?*")
    expect(status).to_have_text("")
    expect(case).to_be_visible()


def test_an_alarm_nobody_accepts_keeps_calling(served: Served, page: Page) -> None:
    served.ingest("medical", "sn-0b01", "gw-xicun-01")
    page.clock.install()
    page.goto("/console/")
    sign_in(page, "duty-t05")
    body = page.locator("body")
    expect(body).to_have_attribute("data-cues", "1")
    expect(page.locator("#board-count")).to_contain_text("件警情待受理")
    assert page.title().startswith("(")

    # The page's own clock moves on half a minute; the case is still not accepted.
    page.clock.fast_forward(31_000)
    expect(body).to_have_attribute("data-cues", "2")
    expect(page.locator("#announce")).to_contain_text("仍有")
    expect(page.locator("#announce")).to_contain_text("件警情待受理")


def test_locked_sign_in_says_when_to_try_again(served: Served, page: Page) -> None:
    with httpx.Client(base_url=served.base) as client:
        for _ in range(5):
            wrong = client.post("/api/v1/auth/token", data={"username": "night-shift", "password": "not it"})
            assert wrong.status_code == 401
    page.goto("/console/")
    page.fill("#username", "night-shift")
    page.fill("#password", "not it either")
    page.click("#login-form button[type=submit]")
    # The page shows the server's Retry-After, whatever it is by the time the answer comes.
    expect(page.locator("#login-error")).to_have_text(re.compile(r"^登录失败次数过多，请 \d+ 秒后再试。$"))
    page.click("#lang")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text(
        re.compile(r"^Too many failed sign-ins; try again in \d+ s\.$")
    )
