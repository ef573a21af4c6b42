"""The station kiosk in a real Chromium at 800×480, against the whole chain: virtual buttons
running the real firmware on ptys, the gateway with its kiosk, a real Mosquitto (stopped and
started again mid-test), and the real server (uvicorn, SQLite).

The pictures in docs/images are refreshed on request only (SHOUWANG_KIOSK_SCREENSHOTS=1), so a
test run leaves the work tree clean; otherwise they go to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.config import load_settings
from gateway.daemon import Gateway
from hardware.virtual_board import VirtualBoard
from protocol.event import parse_time
from protocol.pins import hash_pin
from server.app import create_app
from server.settings import Settings
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from shouwang.processes import free_port
from tests.conftest import REPO, TEST_BROKER_CONF
from tests.server.conftest import SECRET, SEED

pytestmark = pytest.mark.slow  # a real chromium and the whole chain; ./dev test --fast leaves them out

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
IMAGES = REPO / "docs" / "images"
REFRESH_SCREENSHOTS = os.environ.get("SHOUWANG_KIOSK_SCREENSHOTS") == "1"
UI_WAIT_MS = 15_000  # upper bound for the page to show something; never a timing assertion
LINK_WAIT_MS = 60_000  # a broker back after a stop: the links reconnect with backoff
WAIT = 30.0
GW = "gw-dongcun-01"
ADMIN = "Admin-Password-2026"
PIN = "2468"
STAFF = "王芳"
CONFIG = """\
[gateway]
id = "gw-dongcun-01"
data_dir = "data"

[mqtt]
url = "{url}"
resend_after_s = 1.0
keepalive_s = 5

{serial}
[kiosk]
listen = "127.0.0.1:0"
station = "东村服务站"

[[devices]]
id = "sn-00a3"
name = "王奶奶家 呼叫按钮"
model = "sw-panic-button"
location = "东村 3 组 12 号"

[[devices]]
id = "sn-00a4"
name = "小卖部 门磁"
model = "sw-door-sensor"
location = "村口小卖部"
"""


@dataclass
class Chain:
    broker: Mosquitto
    server_url: str
    gateway: Gateway
    kiosk_url: str
    button: VirtualBoard
    door: VirtualBoard
    newcomer: VirtualBoard  # plugged in but not on the allowlist: the pairing test adds it
    config: Path

    def api(self, method: str, path: str, **kw: Any) -> Any:
        with httpx.Client(base_url=self.server_url, timeout=WAIT) as c:
            token = c.post("/api/v1/auth/token", data={"username": "admin", "password": ADMIN}).json()
            resp = c.request(method, path, headers={"Authorization": "Bearer " + token["access_token"]}, **kw)
            assert resp.status_code < 400, resp.text
            return resp.json()

    def case_of(self, event: str) -> dict[str, Any] | None:
        """The server's case holding the event, with its actions; None until it has one."""
        for case in self.api("GET", "/api/v1/cases", params={"limit": 500})["items"]:
            detail = self.api("GET", "/api/v1/cases/%d" % case["id"])
            if any(e["id"] == event for e in detail["events"]):
                return dict(detail)
        return None

    def kiosk_state(self) -> dict[str, Any]:
        return dict(httpx.get(self.kiosk_url + "api/state", timeout=WAIT).json())

    def newest_alarm(self, device: str) -> dict[str, Any]:
        return next(a for a in self.kiosk_state()["alarms"] if a["device"] == device)


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.1)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("kiosk")
    seed = tmp / "seed.json"
    seed.write_text(json.dumps(SEED, ensure_ascii=False), encoding="utf-8")
    boards = [VirtualBoard(app=app, node=node, state_dir=tmp / "boards" / node)
              for app, node in (("panic_button", "00a3"), ("door_sensor", "00a4"), ("panic_button", "00c7"))]
    with Mosquitto(tmp / "broker", template=TEST_BROKER_CONF) as broker:
        settings = Settings(db_url="sqlite:///%s" % (tmp / "server.db"), mqtt_url=broker.url, secret=SECRET,
                            admin_password=ADMIN, deadline_interval=0,
                            mqtt_client_id="shouwang-kiosk-%s" % uuid.uuid4().hex[:8], seed_file=seed)
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               ws="none", lifespan="on"))
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        for board in boards:
            board.start()
        config = tmp / "gateway.toml"
        serial = "".join('[[serial]]\nport = "%s"\n\n' % b.port for b in boards)
        config.write_text(CONFIG.format(url=broker.url, serial=serial), encoding="utf-8")
        gateway = Gateway(load_settings(config))
        try:
            wait_until(lambda: server.started or not thread.is_alive(), "uvicorn")
            assert server.started, "uvicorn did not start"
            assert app.state.link.wait_connected(10), "server did not connect to the broker"
            gateway.start()
            assert gateway.kiosk is not None and gateway.kiosk_server is not None
            gateway.kiosk.pins.set(STAFF, hash_pin(PIN, iterations=10_000), set_by="test", now=gateway.now())
            assert gateway.uplink is not None and gateway.uplink.connected.wait(WAIT)
            kiosk_url = gateway.kiosk_server.url
            yield Chain(broker, "http://127.0.0.1:%d" % port, gateway, kiosk_url, *boards, config)
        finally:
            gateway.stop()
            for board in boards:
                board.stop()
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
def page(browser: Browser, chain: Chain) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 800, "height": 480}, base_url=chain.kiosk_url)
    pg = context.new_page()
    pg.set_default_timeout(UI_WAIT_MS)
    pg.goto("/")
    expect(pg.locator("#link")).to_have_text("值班室在线")
    yield pg
    context.close()


def shot(page: Page, name: str, tmp_path: Path) -> None:
    folder = IMAGES if REFRESH_SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('toast').hidden = true")  # a passing message
    page.screenshot(path=str(folder / name))


def sign_in(page: Page, pin: str = PIN) -> None:
    page.click("#who")
    for digit in pin:
        page.click("[data-digit='%s']" % digit)
    page.click("#pin-ok")


def card(page: Page, alarm: str) -> Any:
    return page.locator("article[data-alarm='%s']" % alarm)


def long_press(board: VirtualBoard) -> int:
    """A panic press on the virtual button; the firmware's seq of the panic event."""
    before = max([s for s, k in board.events if k == "panic"], default=0)
    board.press(seconds=2.0)
    seq = board.wait_event("panic", WAIT, after=before)
    assert seq is not None, "the firmware raised no panic"
    return seq


def close_card(page: Page, alarm: str) -> None:
    card(page, alarm).locator("[data-act=handled]").click()
    page.click("#note-ok")
    expect(card(page, alarm)).to_have_class("card closed")


# --- the scenarios ---------------------------------------------------------------------------

def test_sign_in_with_a_pin(page: Page, chain: Chain, tmp_path: Path) -> None:
    expect(page.locator("#station")).to_have_text("东村服务站")
    expect(page.locator("#locked")).to_be_visible()  # locked: the board is read-only
    page.click("#who")
    expect(page.locator(".sheet h3")).to_have_text("请输入 王芳 的 PIN")
    for digit in "1357":
        page.click("[data-digit='%s']" % digit)
    expect(page.locator("#pin-dots")).to_have_text("●●●●")
    shot(page, "kiosk-pin-zh.png", tmp_path)
    page.click("#pin-ok")
    expect(page.locator("#pin-error")).to_have_text("PIN 不正确")
    page.keyboard.type(PIN)  # a keyboard works as well as the pad
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_have_text("王芳 · 退出")
    expect(page.locator("#locked")).to_have_count(0)
    page.click("#who")  # sign out: locked again
    expect(page.locator("#locked")).to_be_visible()


def test_devices_monthly_test_and_network_pages(page: Page, chain: Chain, tmp_path: Path) -> None:
    sign_in(page)
    page.click("[data-tab=test]")
    page.click("#test-start")
    # Before any panic press: three short presses within 30 s of a panic are its cancel.
    expect(page.locator("#test-progress")).to_have_text("测试进行中：0 / 2")
    for _ in range(3):  # the monthly test press: three short presses
        chain.button.press(seconds=0.15, wait=True)
        time.sleep(0.25)
    chain.door.open_door()
    expect(page.locator("[data-test-device='sn-00a3'][data-ticked=yes]")).to_be_visible()
    expect(page.locator("[data-test-device='sn-00a4'][data-ticked=yes]")).to_be_visible()
    expect(page.locator("#test-progress")).to_have_text("测试进行中：2 / 2")
    expect(page.locator("[data-test-device='sn-00a3']")).to_contain_text("测试按键")
    chain.door.close_door()
    shot(page, "kiosk-test-zh.png", tmp_path)
    page.click("#test-finish")
    expect(page.locator("#test-progress")).to_have_count(0)
    page.click("[data-tab=devices]")
    expect(page.locator("[data-device='sn-00a3']")).to_contain_text("电量 87%")
    expect(page.locator("[data-device='sn-00a3']")).to_contain_text("定时监测")
    shot(page, "kiosk-devices-zh.png", tmp_path)
    page.click("#lang")
    page.click("[data-tab=link]")
    expect(page.locator("#link-facts")).to_contain_text("Duty room online")
    shot(page, "kiosk-link-en.png", tmp_path)
    page.click("#lang")


def test_a_press_appears_flashing_and_going_is_accepted_at_the_server(page: Page, chain: Chain) -> None:
    sign_in(page)
    expect(page.locator("#who")).to_have_text("王芳 · 退出")
    device_seq = long_press(chain.button)
    flashing = page.locator("article.card.flash", has_text="王奶奶家 呼叫按钮")
    expect(flashing).to_be_visible()
    alarm = flashing.get_attribute("data-alarm")
    assert alarm is not None and alarm.startswith(GW + ":")
    first = card(page, alarm)
    expect(first.locator(".kind")).to_have_text("紧急呼叫")
    expect(first).to_contain_text("东村 3 组 12 号")
    expect(first.locator("[data-delivered=yes]")).to_be_visible()  # the duty room has it
    first.locator("[data-act=going]").click()
    expect(first.locator("[data-level=accepted]")).to_have_text("已受理：王芳")
    # End to end: the case is accepted at the server by the staff member, and the villager's
    # button hears "accepted" (from the station at once, and from the server's ack_level).
    case = wait_until(lambda: (c := chain.case_of(alarm)) is not None and c["state"] == "accepted" and c,
                      "the case accepted at the server")
    accept = next(a for a in case["actions"] if a["action"] == "accept")
    assert (accept["actor"], accept["data"]["via"]) == (STAFF, "kiosk")
    assert chain.button.wait_ack(device_seq, "accepted", WAIT)
    expect(first.locator(".tag.applied")).to_have_text("已同步到值班室")
    close_card(page, alarm)
    wait_until(lambda: (c := chain.case_of(alarm)) is not None and c["state"] == "closed", "the case closed")


def test_offline_the_banner_shows_and_a_local_going_syncs_with_its_time(page: Page, chain: Chain,
                                                                       tmp_path: Path) -> None:
    sign_in(page)
    chain.broker.stop()
    try:
        expect(page.locator("#banner-offline")).to_be_visible()
        expect(page.locator("#link")).to_have_text("与值班室断开")
        device_seq = long_press(chain.button)
        flashing = page.locator("article.card.flash", has_text="王奶奶家 呼叫按钮")
        expect(flashing).to_be_visible()
        alarm = flashing.get_attribute("data-alarm")
        assert alarm is not None
        offline = card(page, alarm)
        expect(offline.locator("[data-delivered=no]")).to_be_visible()
        offline.locator("[data-act=going]").click()
        expect(offline.locator(".tag.queued")).to_have_text("排队中")
        assert chain.button.wait_ack(device_seq, "accepted", WAIT)  # local first
        expect(page.locator("#banner-offline")).to_contain_text("操作 1")
        at_station = chain.newest_alarm("sn-00a3")["actions"][0]["at"]
        shot(page, "kiosk-board-zh.png", tmp_path)
        page.click("#lang")
        expect(page.locator("#banner-offline")).to_contain_text("The link to the duty room is down")
        shot(page, "kiosk-board-en.png", tmp_path)
        page.click("#lang")
    finally:
        chain.broker.start()
    expect(page.locator("#banner-offline")).to_have_count(0, timeout=LINK_WAIT_MS)
    expect(offline.locator(".tag.applied")).to_be_visible(timeout=LINK_WAIT_MS)
    case = wait_until(lambda: chain.case_of(alarm), "the case at the server")
    accept = next(a for a in case["actions"] if a["action"] == "accept")
    # The server has the action with its original time at the station.
    assert accept["data"]["station_at"] == at_station
    assert parse_time(accept["at"]) == parse_time(at_station)
    close_card(page, alarm)


def test_pairing_a_new_virtual_device(page: Page, chain: Chain, tmp_path: Path) -> None:
    sign_in(page)
    chain.newcomer.press(seconds=2.0)
    page.click("[data-tab=pairing]")
    row = page.locator("[data-unknown='sn-00c7']")
    expect(row).to_be_visible()
    expect(page.locator("[data-tab=pairing] .count")).to_have_text("1")
    shot(page, "kiosk-pairing-zh.png", tmp_path)
    row.get_by_role("button", name="添加到本站").click()
    page.fill("#pair-name", "李爷爷家 呼叫按钮")
    page.fill("#pair-location", "东村 5 组 3 号")
    page.select_option("#pair-model", "sw-panic-button")
    page.click("#pair-ok")
    expect(page.locator("#no-unknown")).to_be_visible()
    assert 'id = "sn-00c7"' in chain.config.read_text(encoding="utf-8")
    page.click("[data-tab=devices]")
    expect(page.locator("[data-device='sn-00c7']")).to_contain_text("李爷爷家 呼叫按钮")
    page.click("[data-tab=board]")
    long_press(chain.newcomer)
    newcomer = page.locator("article.card", has_text="李爷爷家 呼叫按钮")
    expect(newcomer).to_be_visible()
    alarm = newcomer.get_attribute("data-alarm")
    assert alarm is not None
    close_card(page, alarm)


def test_the_network_tab_shows_sms_failures(browser: Browser, tmp_path: Path) -> None:
    """Without the chain: a gateway with its link down, an SMS fallback whose modem has no SIM."""
    from gateway.config import DeviceSettings, GatewaySettings, MqttSettings, SerialSettings, SmsSettings
    from gateway.kiosk.settings import KioskSettings
    from hardware.scripted_node import ScriptedNode
    from protocol.kinds import Kind
    from tests.gateway.gw_support import FakeClock
    from tests.modem_standin import ModemStandIn

    clock = FakeClock()
    with ModemStandIn(sim="NOT INSERTED") as modem:
        node = ScriptedNode("00a3")
        settings = GatewaySettings(
            id=GW, data_dir=tmp_path / "gw", mqtt=MqttSettings(url="mqtt://127.0.0.1:9"),
            serial=(SerialSettings(port=node.port),),
            devices=(DeviceSettings(id="sn-00a3", name="王奶奶家 呼叫按钮", model="sw-panic-button"),),
            sms=SmsSettings(port=modem.port, numbers=("+8613800138000",), after_s=60.0),
            kiosk=KioskSettings(listen="127.0.0.1:0", station="东村服务站"))
        gateway = Gateway(settings, clock=clock)
        gateway.start()
        try:
            assert gateway.sms is not None and gateway.kiosk_server is not None
            seq = node.send(Kind.PANIC, {"battery": 80})
            assert node.wait_acked_retrying([seq], "stored", timeout=WAIT)
            gateway.sms.step()
            clock.advance(61)
            gateway.sms.step()  # the modem has no SIM: the text fails
            wait_until(lambda: gateway.status()["sms"]["failures"], "the SMS failure recorded")
            context = browser.new_context(viewport={"width": 800, "height": 480},
                                          base_url=gateway.kiosk_server.url)
            page = context.new_page()
            page.set_default_timeout(UI_WAIT_MS)
            page.goto("/")
            page.click("[data-tab=link]")
            expect(page.locator("#sms-state")).to_contain_text("1 个号码")
            expect(page.locator("#sms-state .bad-text")).to_contain_text("发送失败 1 次")
            context.close()
        finally:
            gateway.stop()
            node.close()
