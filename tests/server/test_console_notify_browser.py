"""The notification rules panel and the accept link, in a real Chromium against the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.server.test_console_browser import (  # noqa: F401 - fixtures shared with the console tests
    Served,
    browser,
    page,
    served,
    sign_in,
)
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def test_an_admin_adds_a_rule_and_sends_a_test(served: Served, page: Page, hook: WebhookReceiver) -> None:  # noqa: F811 - shared fixtures
    page.goto("/")
    sign_in(page, "admin", "Admin-Password-2026")
    opener = page.locator("#notify-open")
    expect(opener).to_have_text("通知设置")
    opener.click()
    panel = page.locator("#notify-panel")
    expect(panel.locator("h2")).to_have_text("通知规则")
    panel.get_by_role("button", name="新增规则").click()
    panel.locator("input[name=name]").fill("河镇值班群")
    panel.locator("input[name=region]").fill("c01/t03")
    panel.locator("input[name=target]").fill(hook.url)
    panel.locator("label.notify-class", has_text="火警").locator("input").check()
    panel.locator("input[name=quiet_start]").fill("22:00")
    panel.locator("input[name=quiet_end]").fill("07:00")
    panel.get_by_role("button", name="保存").click()
    expect(panel.locator("#notify-message")).to_have_text("已保存。")
    row = panel.locator("table.notify-rules tbody tr")
    expect(row).to_have_count(1)
    for text in ("河镇值班群", "c01/t03", "json://127.0.0.1:%d/hook" % hook.port, "火警", "22:00–07:00"):
        expect(row).to_contain_text(text)
    row.get_by_role("button", name="发送测试").click()
    expect(panel.locator("#notify-message")).to_have_text("测试消息已发送：delivered")
    received = hook.next()
    assert (received["title"], received["message"]) == (
        "【守望】测试",
        "守望报警网络测试消息（admin 发送）：此通知目标可用。",
    )
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="删除").click()
    expect(panel.locator("#notify-message")).to_have_text("已删除。")
    expect(panel.locator("p.empty")).to_be_visible()


def test_the_panel_is_for_admins_only(served: Served, page: Page) -> None:  # noqa: F811 - shared fixtures
    page.goto("/")
    sign_in(page, "duty-t03")
    expect(page.locator("#case-rows")).to_be_attached()
    expect(page.locator("#notify-open")).to_be_hidden()


def test_the_accept_link_of_a_notification_accepts_after_sign_in(served: Served, page: Page) -> None:  # noqa: F811 - shared fixtures
    case_id = served.ingest("panic", "sn-00a3")
    page.goto("/console/#/case/%d/accept" % case_id)
    dialog = page.locator("#accept-link")
    expect(dialog).to_contain_text("请先登录")
    sign_in(page, "duty-t03")
    expect(dialog.locator("h2")).to_have_text("受理案件 %d" % case_id)
    dialog.get_by_role("button", name="确认受理").click()
    page.wait_for_url("**/#/case/%d" % case_id)
    state = served.call("duty-t03", "GET", "/api/v1/cases/%d" % case_id).json()["state"]
    assert state == "accepted"
