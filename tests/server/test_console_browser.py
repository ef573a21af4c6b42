"""The duty-room console in a real Chromium against the real server (uvicorn, SQLite, Mosquitto).

Cases reach the console the way they do in production: a gateway publishes events over MQTT,
the server's ingest stores them and opens cases, the duty alert goes out on MQTT, the server's
duty feed hands it to the live push, and the page applies it.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree
from playwright.sync_api import Browser, Page, expect, sync_playwright

from server.app import create_app
from shouwang.mosquitto import Mosquitto, mosquitto_binary
from tests.conftest import REPO, TEST_BROKER_CONF
from tests.server.conftest import SEED
from tests.server.live_support import ADMIN_PASSWORD, serve, settings_for, write_seed
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
# The docs' pictures are refreshed on request only, so a test run leaves the work tree clean.
DOCS_IMAGES = REPO / "docs" / "images"
REFRESH_SCREENSHOT = os.environ.get("SHOUWANG_CONSOLE_SCREENSHOT") == "1"
UI_WAIT_MS = 10_000  # upper bound for the page to show something; never a timing assertion
CAP_SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "cap" / "CAP-v1.2.xsd")))
_seqs = itertools.count(1)


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _console_seed() -> dict[str, Any]:
    """The server tests' seed with boundaries to draw: 河镇 in the east with two grids, 山镇 in
    the west with one grid drawn and one without a boundary; devices at their homes."""
    seed = copy.deepcopy(SEED)
    shapes = {
        "c01": _box(108.0, 34.0, 109.0, 34.6),
        "c01/t03": _box(108.5, 34.0, 109.0, 34.6),
        "c01/t03/v12": _box(108.5, 34.0, 109.0, 34.3),
        "c01/t03/v12/g4": _box(108.75, 34.0, 109.0, 34.3),
        "c01/t05": _box(108.0, 34.0, 108.5, 34.6),
        "c01/t05/v01": _box(108.0, 34.3, 108.5, 34.6),
        "c01/t05/v01/g1": _box(108.0, 34.45, 108.5, 34.6),
    }
    for region in seed["regions"]:
        region["geometry"] = shapes.get(region["path"])
    seed["regions"] += [
        {
            "path": "c01/t03/v12/g5",
            "name": "第五网格",
            "level": "grid",
            "geometry": _box(108.5, 34.0, 108.75, 34.3),
        },
        {"path": "c01/t05/v01/g2", "name": "第二网格", "level": "grid"},
    ]
    homes = {"sn-00a3": (34.12, 108.91, "东村 3 组 12 号"), "sn-0b01": (34.52, 108.25, "西村 1 组 4 号")}
    for device in seed["devices"]:
        if device["id"] in homes:
            device["lat"], device["lon"], device["address"] = homes[device["id"]]
    seed["devices"].append(
        {
            "id": "sn-00a5",
            "gateway": "gw-dongcun-01",
            "model": "sw-panic-button",
            "name": "村委会 呼叫按钮",
            "lat": 34.15,
            "lon": 108.6,
            "address": "东村村委会",
        }
    )
    return seed


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
    app: FastAPI

    def escalate(self) -> None:
        """Two runs of the server's deadline watcher (its thread is off in tests): an overdue case
        turns yellow, then red and escalates."""
        self.app.state.escalator.tick()
        self.app.state.escalator.tick()

    def press(self, kind: str, device: str, gateway: str = "gw-dongcun-01", ago: float = 0.0) -> None:
        """Send one event as a gateway would and wait for the server's ack (it is stored)."""
        gw = FakeGateway(self.broker.url, gateway)
        self.clock.shift = -timedelta(seconds=ago)
        try:
            at = self.clock()
            gw.send([ev(next(_seqs), kind, device, gateway, at=at, device_seq=next(_seqs))])
            self.watcher.next("sw/v1/gw/%s/ack" % gateway)
        finally:
            self.clock.shift = timedelta(0)
            gw.close()

    def open_case(self, kind: str, device: str) -> int:
        cases = self.call("admin", "GET", "/api/v1/cases", params={"state": "open", "device": device})
        return max(int(c["id"]) for c in cases.json()["items"] if c["kind"] == kind)

    def ingest(self, kind: str, device: str, gateway: str = "gw-dongcun-01", ago: float = 0.0) -> int:
        """Send one event as a gateway would; return the id of the open case it landed in."""
        self.press(kind, device, gateway, ago)
        return self.open_case(kind, device)

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One REST call as ``user``, the way another officer's browser would make it."""
        password = ADMIN_PASSWORD if user == "admin" else PASSWORD
        with httpx.Client(base_url=self.base) as client:
            resp = client.post("/api/v1/auth/token", data={"username": user, "password": password})
            assert resp.status_code == 200, resp.text
            headers = {"Authorization": "Bearer " + resp.json()["access_token"]}
            return client.request(method, path, headers=headers, **kwargs)

    def close_all(self) -> None:
        """Close every open case, so a test starts from an empty board."""
        items = self.call("admin", "GET", "/api/v1/cases", params={"state": "open", "limit": 500}).json()[
            "items"
        ]
        for c in items:
            self.call("admin", "POST", "/api/v1/cases/%d/actions" % c["id"], json={"action": "cancel"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed (.ci/run installs it)")
    tmp = tmp_path_factory.mktemp("console")
    seed = write_seed(tmp / "seed.json", _console_seed())
    with Mosquitto(tmp / "broker", template=TEST_BROKER_CONF) as broker:
        clock = ShiftedClock()
        app = create_app(settings_for("sqlite:///%s" % (tmp / "server.db"), broker, seed), clock=clock)
        watcher = Watcher(broker.url, ["sw/v1/gw/+/ack"])
        try:
            with serve(app) as base:
                yield Served(base, broker, watcher, clock, app)
        finally:
            watcher.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at %s: install it with `apt-get install -y chromium`" % CHROMIUM)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser: Browser, served: Served, width: int, height: int) -> Iterator[Page]:
    # A fresh context per test: its own sessionStorage (token) and localStorage (language).
    context = browser.new_context(
        viewport={"width": width, "height": height}, base_url=served.base, accept_downloads=True
    )
    context.set_default_timeout(UI_WAIT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], "JavaScript errors in the console page: %s" % errors


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    yield from _page(browser, served, 1600, 900)


@pytest.fixture
def small_page(browser: Browser, served: Served) -> Iterator[Page]:
    """A duty-room PC's 1366 x 768 screen."""
    yield from _page(browser, served, 1366, 768)


def sign_in(page: Page, user: str, password: str = PASSWORD) -> None:
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("nav.views")).to_be_visible()


def live(page: Page) -> None:
    """Wait until the page hears the server's push."""
    expect(page.locator("body")).to_have_attribute("data-live", "1")


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
    shot = tmp_path / "console.png"
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

    # Pushed changes and the clock update rows in place: the row under the officer's pointer
    # stays the same element, so a click is never lost to a re-render.
    row = page.locator('tr[data-case-id="%d"]' % late).element_handle()
    another = served.ingest("medical", "sn-0b01", "gw-xicun-01")
    expect(page.locator('tr[data-case-id="%d"]' % another)).to_contain_text("医疗求助")
    assert row.evaluate("tr => tr.isConnected")


def test_an_action_someone_else_made_illegal_shows_the_409_message(served: Served, page: Page) -> None:
    case_id = served.ingest("fire", "sn-00a4")
    # No push for this page, and its polling frozen below: the other officer's accept stays
    # unseen until the click, as on a slow line.
    page.route("**/api/v1/stream", lambda route: route.abort("connectionrefused"))
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
    # The push cannot get through either, so the board falls back to reading the API.
    page.route("**/api/v1/stream", lambda route: route.abort("connectionreset"))
    page.goto("/console/")
    sign_in(page, "duty-c01")
    case = page.locator('#case-rows tr[data-case-id="%d"]' % case_id)
    expect(case).to_contain_text("防拆报警")
    expect(page.locator("#live-status")).to_have_text("实时推送中断，每 2 秒刷新")

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


# -- map, statistics, exports, live push ------------------------------------------------------


def _centre_inside(page: Page, marker: str, grid: str) -> bool:
    """The middle of the marker lies within the grid's drawn outline (its screen box)."""
    m = page.locator(marker).bounding_box()
    g = page.locator(grid).bounding_box()
    assert m is not None and g is not None
    cx, cy = m["x"] + m["width"] / 2, m["y"] + m["height"] / 2
    return g["x"] <= cx <= g["x"] + g["width"] and g["y"] <= cy <= g["y"] + g["height"]


def test_the_map_shows_a_new_alarm_in_its_grid_as_soon_as_it_is_pushed(served: Served, page: Page) -> None:
    page.goto("/console/#/map")
    sign_in(page, "duty-t03")
    live(page)
    g5 = page.locator('#map path[data-region="c01/t03/v12/g5"]')
    expect(g5).to_be_visible()
    expect(page.locator('#map path[data-region="c01/t03/v12/g4"]')).to_be_visible()
    # 山镇 is not this officer's: none of its shapes or names is drawn.
    expect(page.locator('#map [data-region^="c01/t05"]')).to_have_count(0)
    expect(page.locator("#region-tree")).not_to_contain_text("山镇")

    # From here the page cannot read the board: whatever appears now was pushed by the server.
    page.route("**/api/v1/cases?*", lambda route: route.abort("connectionrefused"))
    pushed = int(page.locator("body").get_attribute("data-pushed") or "0")
    started = time.monotonic()
    served.press("panic", "sn-00a5")  # the village committee's button, in 第五网格
    case_id = served.open_case("panic", "sn-00a5")
    marker = page.locator('#map g.case-mark[data-case-id="%d"]' % case_id)
    expect(marker).to_have_attribute("data-region", "c01/t03/v12/g5")
    shown_after = time.monotonic() - started
    expect(marker).to_have_attribute("data-deadline", "green")
    expect(g5).to_have_attribute("data-alarm", "green")
    assert _centre_inside(
        page, '#map g.case-mark[data-case-id="%d"] .dot' % case_id, '#map path[data-region="c01/t03/v12/g5"]'
    )
    assert not _centre_inside(
        page, '#map g.case-mark[data-case-id="%d"] .dot' % case_id, '#map path[data-region="c01/t03/v12/g4"]'
    )
    assert int(page.locator("body").get_attribute("data-pushed") or "0") > pushed
    print("press to marker on the map (ack and a REST lookup included): %.3f s" % shown_after)

    # The tree lists the grid with what is open in it.
    expect(page.locator('#region-tree li[data-region="c01/t03/v12/g5"]')).to_contain_text("件警情")

    # Clicking the alarm opens its case; clicking a grid filters the board.
    page.unroute("**/api/v1/cases?*")
    # Playwright never calls a pulsing marker stable enough to click; still pulses are the
    # reduced-motion setting an officer may choose too.
    page.emulate_media(reduced_motion="reduce")
    marker.locator(".dot").click()
    expect(page.locator("#detail-title")).to_have_text("案件 #%d · 紧急呼叫" % case_id)
    page.goto("/console/#/map")
    page.locator('#map path[data-region="c01/t03/v12/g4"]').click(position={"x": 5, "y": 5})
    expect(page.locator("#board-filter")).to_contain_text("第四网格")
    expect(page.locator('#case-rows tr[data-case-id="%d"]' % case_id)).to_have_count(0)
    rows = page.locator("#case-rows tr")
    for i in range(rows.count()):
        expect(rows.nth(i).locator(".region")).to_contain_text("第四网格")
    page.click("#board-filter-clear")
    expect(page.locator('#case-rows tr[data-case-id="%d"]' % case_id)).to_be_visible()


def test_regions_without_a_boundary_are_in_the_tree(served: Served, page: Page) -> None:
    page.goto("/console/#/map")
    sign_in(page, "duty-t05")
    g2 = page.locator('#region-tree li[data-region="c01/t05/v01/g2"]')
    expect(g2).to_contain_text("第二网格")
    expect(g2).to_contain_text("无边界")
    expect(page.locator('#map path[data-region="c01/t05/v01/g2"]')).to_have_count(0)
    g2.locator("button").click()
    expect(page.locator("#board-filter")).to_contain_text("第二网格")
    expect(page.locator("#board-empty")).to_be_visible()


def _kpi(page: Page, key: str) -> int:
    return int(page.locator('#kpis [data-kpi="%s"] .kpi-value' % key).inner_text())


def test_the_stats_page_counts_a_new_alarm_and_compares_the_townships(served: Served, page: Page) -> None:
    page.goto("/console/#/stats")
    sign_in(page, "duty-c01")
    live(page)
    expect(page.locator("#stats-view")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    alarms, cases = _kpi(page, "alarms"), _kpi(page, "cases")
    served.ingest("fire", "sn-00a5")
    expect(page.locator('#kpis [data-kpi="alarms"] .kpi-value')).to_have_text(str(alarms + 1))
    expect(page.locator('#kpis [data-kpi="cases"] .kpi-value')).to_have_text(str(cases + 1))
    # The chart has today's hours, and the alarm is in one of them.
    bars = page.locator("#stats-chart rect.bar-alarms")
    expect(bars).to_have_count(24)
    assert sum(int(b.get_attribute("data-value") or "0") for b in bars.all()) == alarms + 1
    rows = page.locator("#stats-children tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("河镇")
    expect(rows.nth(1)).to_contain_text("山镇")
    rows.nth(0).click()
    expect(page.locator("#stats-region")).to_have_value("c01/t03")
    expect(page.locator("#stats-children tbody tr")).to_have_count(1)
    expect(page.locator("#stats-children tbody tr")).to_contain_text("东村")
    for key in ("missing", "low_battery", "unsupervised", "gateways_offline"):
        expect(page.locator('#health [data-kpi="%s"]' % key)).to_be_visible()
    page.click('#stats-period button[data-period="month"]')
    days = page.evaluate(
        "(() => { const d = new Date(); return new Date(d.getFullYear(), d.getMonth() + 1, 0).getDate(); })()"
    )
    expect(page.locator("#stats-chart rect.bar-alarms")).to_have_count(days)


def _download(page: Page, button: str) -> list[list[str]]:
    with page.expect_download() as info:
        page.click(button)
    body = Path(info.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))


def test_csv_downloads_hold_the_officers_cases_and_kpis(served: Served, page: Page) -> None:
    theirs = served.ingest("intrusion", "sn-00a3")
    mine = served.ingest("intrusion", "sn-0b01", "gw-xicun-01")
    page.goto("/console/#/stats")
    sign_in(page, "duty-t05")
    cases = _download(page, "#export-cases")
    assert cases[0][:4] == ["案件编号", "立案时间", "类型代码", "警情"]
    ids = [int(r[0]) for r in cases[1:]]
    assert mine in ids and theirs not in ids
    assert all(r[12].startswith("c01/t05") for r in cases[1:])
    assert not any("王奶奶家" in ",".join(r) for r in cases)
    kpis = _download(page, "#export-kpis")
    assert [r[0] for r in kpis[1:]] == ["c01/t05", "c01/t05/v01"]

    page.click("#lang")
    english = _download(page, "#export-cases")
    assert english[0][:4] == ["Case", "Opened", "Kind code", "Kind"]
    assert "Intrusion" in [r[3] for r in english[1:]]


def test_the_cap_document_of_a_case_downloads_and_validates(served: Served, page: Page) -> None:
    case_id = served.ingest("medical", "sn-0b01", "gw-xicun-01")
    page.goto("/console/#/case/%d" % case_id)
    sign_in(page, "duty-t05")
    with page.expect_download() as info:
        page.click("#cap-export")
    assert info.value.suggested_filename == "case-%d.cap.xml" % case_id
    doc = etree.fromstring(Path(info.value.path()).read_bytes())
    CAP_SCHEMA.assertValid(doc)
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    assert (doc.findtext(ns + "msgType"), doc.findtext(ns + "info/" + ns + "event")) == ("Alert", "医疗求助")


def test_a_console_in_another_township_does_not_receive_the_alarm(served: Served, page: Page) -> None:
    page.clock.install()
    page.goto("/console/")
    sign_in(page, "duty-t05")
    live(page)
    page.clock.pause_at(datetime.now(UTC).timestamp() + 1)  # nothing from polling from here on
    before = int(page.locator("body").get_attribute("data-pushed") or "0")
    theirs = served.ingest("panic", "sn-00a4")
    mine = served.ingest("tamper", "sn-0b01", "gw-xicun-01")
    expect(page.locator('#case-rows tr[data-case-id="%d"]' % mine)).to_contain_text("防拆报警")
    # Exactly one change was pushed to this console: its own.
    expect(page.locator("body")).to_have_attribute("data-pushed", str(before + 1))
    expect(page.locator('#case-rows tr[data-case-id="%d"]' % theirs)).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("小卖部")


def test_the_deadline_stays_in_view_at_1366_px_with_a_case_open(served: Served, small_page: Page) -> None:
    case_id = served.ingest("panic", "sn-00a3")
    small_page.goto("/console/#/case/%d" % case_id)
    sign_in(small_page, "duty-c01")
    row = small_page.locator('#case-rows tr[data-case-id="%d"]' % case_id)
    deadline = row.locator(".deadline")
    expect(deadline).to_be_visible()
    expect(small_page.locator("#detail-title")).to_contain_text("#%d" % case_id)
    box, board = deadline.bounding_box(), small_page.locator("#board").bounding_box()
    assert box is not None and board is not None
    assert box["x"] + box["width"] <= board["x"] + board["width"]
    assert small_page.locator("#board").evaluate("b => b.scrollWidth <= b.clientWidth")
    # The station and region are in the case pane instead.
    expect(small_page.locator("#detail .info")).to_contain_text("东村服务站")


def test_english_counts_say_one_and_many(served: Served, page: Page) -> None:
    page.goto("/console/")
    page.click("#lang")
    sign_in(page, "duty-t03")
    said = page.evaluate(
        "[1, 2].map((n) => ['board.count.cases', 'board.count.waiting', 'escalated'].map((k) => SW.tn(k, n)))"
    )
    assert said == [
        ["1 open case", "1 alarm waiting to be accepted", "escalated 1 level"],
        ["2 open cases", "2 alarms waiting to be accepted", "escalated 2 levels"],
    ]
    expect(page.locator("#board-count")).to_have_text(
        re.compile(r"^\d+ open cases?, \d+ alarms? waiting to be accepted$")
    )


def test_system_actions_and_the_withdraw_button_are_in_words(served: Served, page: Page) -> None:
    case_id = served.ingest("panic", "sn-0b01", "gw-xicun-01", ago=75)
    served.escalate()  # 75 s without an accept: escalated, and the trail says so
    page.goto("/console/#/case/%d" % case_id)
    sign_in(page, "duty-t05")
    expect(page.locator("#detail table.audit")).to_contain_text("超时升级")
    expect(page.locator('#detail button[data-action="cancel"]')).to_have_text("撤销案件")
    expect(page.locator('label[for="p-dispatch-assignee"]')).to_have_count(0)  # only after accepting
    page.click('#detail button[data-action="accept"]')
    expect(page.locator('label[for="p-dispatch-assignee"]')).to_have_text("派遣给（处置人）")
    expect(page.locator('label[for="p-co_handle-assignee"]')).to_have_text("协办人")
    page.click("#lang")
    expect(page.locator('#detail button[data-action="cancel"]')).to_have_text("Withdraw case")
    expect(page.locator("#detail table.audit")).to_contain_text("Escalated (overdue)")
    expect(page.locator("#detail table.audit")).not_to_contain_text("escalate ")


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


def test_screens_for_the_docs(served: Served, small_page: Page, tmp_path: Path) -> None:
    """Board with a case open, map and statistics at 1366 x 768, in both languages. Written to
    docs/images with SHOUWANG_CONSOLE_SCREENSHOT=1, else to the test's temporary folder."""
    folder = DOCS_IMAGES if REFRESH_SCREENSHOT else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    served.close_all()
    panic = served.ingest("panic", "sn-00a3", ago=20)
    served.call(
        "duty-t03",
        "POST",
        "/api/v1/cases/%d/actions" % panic,
        json={"action": "accept", "note": "电话已联系老人"},
    )
    served.ingest("fire", "sn-00a5", ago=50)  # deadline near
    served.ingest("intrusion", "sn-0b01", "gw-xicun-01", ago=150)  # overdue
    served.ingest("low_battery", "sn-00a4")
    page = small_page
    page.goto("/console/#/case/%d" % panic)
    sign_in(page, "duty-c01")
    live(page)
    for lang in ("zh-CN", "en"):
        if lang == "en":
            page.click("#lang")
        page.goto("/console/#/case/%d" % panic)
        expect(page.locator("#detail table.audit")).to_contain_text("duty-t03")
        page.screenshot(path=str(folder / ("console-board-%s.png" % lang)))
        page.goto("/console/#/map")
        expect(page.locator("#map g.case-mark")).to_have_count(4)
        page.screenshot(path=str(folder / ("console-map-%s.png" % lang)))
        page.goto("/console/#/stats")
        expect(page.locator("#stats-children tbody tr")).to_have_count(2)
        page.screenshot(path=str(folder / ("console-stats-%s.png" % lang)))
    for name in ("board", "map", "stats"):
        for lang in ("zh-CN", "en"):
            assert (folder / ("console-%s-%s.png" % (name, lang))).stat().st_size > 10_000
