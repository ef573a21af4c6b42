"""Durable notification delivery: webhook on loopback, escalations on a fake clock, retries,
accepting stops the repeats, failing targets become maintenance cases, SMS via the modem."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from server.app import create_app
from server.db.models import OutboxMessage
from server.notify.relay import Backoff, NotificationRelay
from server.outbox import DUTY_ALERT
from server.settings import Settings
from shouwang.mosquitto import Mosquitto
from tests.modem_standin import ModemStandIn
from tests.server.conftest import SECRET
from tests.server.srv_support import FakeClock, FakeGateway, Running, TestClient, Watcher, ev
from tests.webhook_receiver import WebhookReceiver

TITLE = "【守望】紧急求助 · 东村服务站"
BODY = (
    "事件：紧急求助（案件 1），设备：王奶奶家 呼叫按钮\n"
    "地点：东县 / 河镇 / 东村 / 第四网格，东村服务站，东村 1 号\n"
    "时间：11月23日 16:00 起（已 0 分钟）\n"
    "处理：查看案件 https://duty.example.cn/#/case/1\n"
    "受理（需登录）：https://duty.example.cn/#/case/1/accept"
)


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@contextmanager
def running(
    db_url: str, broker: Mosquitto, seed_file: Path, clock: FakeClock, interval: float, **kw: Any
) -> Iterator[Running]:
    settings = Settings(
        db_url=db_url,
        mqtt_url=broker.url,
        secret=SECRET,
        admin_password="Admin-Password-2026",
        deadline_interval=0,
        mqtt_client_id="shouwang-notify-%s" % uuid.uuid4().hex[:8],
        seed_file=seed_file,
        public_url="https://duty.example.cn",
        notify_interval=interval,
        **kw,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        assert app.state.link.wait_connected(10)
        yield Running(client, settings, broker, clock)


@pytest.fixture
def manual(
    db_url: str, broker: Mosquitto, seed_file: Path, clock: FakeClock, hook: WebhookReceiver
) -> Iterator[Running]:
    """The relay is stepped by the test (no thread): every attempt is one ``step``."""
    with running(db_url, broker, seed_file, clock, 0, notify_targets=(hook.url,)) as r:
        yield r


def app_of(r: Running) -> FastAPI:
    app: FastAPI = r.client.app  # type: ignore[assignment]
    return app


def relay(r: Running) -> NotificationRelay:
    out: NotificationRelay = app_of(r).state.notify_relay
    return out


def panic(r: Running, watcher: Watcher, seq: int = 1) -> None:
    gw = FakeGateway(r.broker.url)
    try:
        gw.send([ev(seq, "panic", device_seq=seq)])
        watcher.next("sw/v1/gw/gw-dongcun-01/ack")  # committed
    finally:
        gw.close()


def notify_actions(r: Running, case_id: int = 1) -> list[dict[str, Any]]:
    detail = r.client.get("/api/v1/cases/%d" % case_id, headers=r.token()).json()
    return [a for a in detail["actions"] if a["action"] == "notify"]


def test_a_new_panic_reaches_the_webhook_on_commit_and_each_escalation_follows(
    db_url: str, broker: Mosquitto, seed_file: Path, clock: FakeClock, hook: WebhookReceiver, watcher: Watcher
) -> None:
    # A 30 s poll: only the wake-up after the commit can deliver within the waits below (15 s,
    # generous for a loaded machine; the relay may hold back up to 5 s while ingest is busy).
    with running(db_url, broker, seed_file, clock, 30.0, notify_targets=(hook.url,)) as r:
        relay(r).step()  # the start-up round may still be running; let it finish its work first
        panic(r, watcher)
        assert hook.next(timeout=15) == {
            "version": "1.0",
            "title": TITLE,
            "message": BODY,
            "attachments": [],
            "type": "warning",
        }
        escalator = app_of(r).state.escalator
        clock.advance(50)
        escalator.tick()  # yellow: no notification
        clock.advance(11)
        escalator.tick()  # red: escalation 1
        first = hook.next(timeout=15)
        assert first["title"] == "【守望】第1次升级：紧急求助 无人受理 · 东村服务站"
        assert "时间：11月23日 16:00 起（已 1 分钟）" in first["message"]
        clock.advance(60)
        escalator.tick()  # still nobody: escalation 2, told again
        assert hook.next(timeout=15)["title"] == "【守望】第2次升级：紧急求助 无人受理 · 东村服务站"
        accepted = r.client.post("/api/v1/cases/1/actions", headers=r.token(), json={"action": "accept"})
        assert accepted.status_code == 200, accepted.text
        clock.advance(120)
        escalator.tick()  # accepted: the dispatch step has 600 s, no repeat
        relay(r).step()
        assert hook.drain() == []
        results = [(a["data"]["trigger"], a["data"]["level"], a["data"]["ok"]) for a in notify_actions(r)]
        assert results == [("case_opened", 0, True), ("case_escalated", 1, True), ("case_escalated", 2, True)]
        assert notify_actions(r)[0]["note"].startswith("notified json://127.0.0.1:%d/hook" % hook.port)


def test_a_webhook_that_fails_three_times_gets_the_notification_once(
    manual: Running, hook: WebhookReceiver, watcher: Watcher, clock: FakeClock
) -> None:
    hook.fail_next = 3
    panic(manual, watcher)
    rl = relay(manual)
    assert rl.step() == 1  # attempt 1 fails
    assert rl.step() == 0  # not due again before its backoff (5 s)
    for wait in (5, 10, 20):  # 5 s, then doubling
        clock.advance(wait - 1)
        assert rl.step() == 0
        clock.advance(1)
        assert rl.step() == 1
    assert hook.attempts == 4
    assert [m["title"] for m in hook.drain()] == [TITLE]
    clock.advance(3600)
    assert rl.step() == 0  # delivered: nothing more to send
    actions = notify_actions(manual)
    assert [(a["data"]["attempt"], a["data"]["ok"]) for a in actions] == [
        (1, False),
        (2, False),
        (3, False),
        (4, True),
    ]
    assert (
        actions[0]["data"]["error"]
        == "Failed to send JSON POST notification: Internal server error., error=500."
    )
    assert manual.services.metrics.get("notifications_failed", "json") == 3
    assert manual.services.metrics.get("notifications_sent") == 1


def test_accepting_withdraws_the_repeats_still_queued(
    manual: Running, hook: WebhookReceiver, watcher: Watcher, clock: FakeClock
) -> None:
    hook.fail_next = 100
    panic(manual, watcher)
    rl = relay(manual)
    assert rl.step() == 1  # failed, queued for a retry
    clock.advance(61)
    app_of(manual).state.escalator.tick()  # yellow
    app_of(manual).state.escalator.tick()  # red: escalation 1, queued behind the failing first
    resp = manual.client.post("/api/v1/cases/1/actions", headers=manual.token(), json={"action": "accept"})
    assert resp.status_code == 200
    hook.fail_next = 0
    clock.advance(600)
    assert rl.step() == 0
    assert hook.drain() == []
    detail = manual.client.get("/api/v1/cases/1", headers=manual.token()).json()
    (withdrawn,) = [a for a in detail["actions"] if a["action"] == "notify" and a["data"].get("cancelled")]
    assert (withdrawn["data"], withdrawn["note"]) == (
        {"cancelled": 2},
        "2 queued notification(s) withdrawn: case accepted",
    )


def test_a_target_that_keeps_failing_becomes_a_maintenance_case(
    manual: Running, hook: WebhookReceiver, watcher: Watcher, clock: FakeClock
) -> None:
    hook.fail_next = 100
    panic(manual, watcher)
    rl = relay(manual)
    backoff = Backoff()
    for attempt in range(1, backoff.fail_case_after + 1):
        assert rl.step() == 1
        clock.advance(backoff.delay(attempt).total_seconds())
    topic, alert = watcher.next("sw/v1/duty/")
    while alert["case"]["alarm_class"] != "notify_failed":
        topic, alert = watcher.next("sw/v1/duty/")
    assert (topic, alert["type"], alert["case"]["state"], alert["device"]["id"]) == (
        "sw/v1/duty/unassigned/alerts",
        "case_opened",
        "new",
        "notify:env:0",
    )
    cases = manual.client.get("/api/v1/cases", headers=manual.token("admin", "Admin-Password-2026")).json()
    assert sorted(c["alarm_class"] for c in cases["items"]) == ["notify_failed", "panic"]
    # Its alert left through the outbox, written with the case: a crash cannot lose it.
    with app_of(manual).state.services.db.read() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.channel == DUTY_ALERT)).all()
        outboxed = [json.loads(m.payload)["case"]["alarm_class"] for m in rows]
    assert outboxed.count("notify_failed") == 1, outboxed
    # The target recovers: the panic is delivered at last, and the maintenance case is told so.
    hook.fail_next = 0
    assert rl.step() == 1
    assert [m["title"] for m in hook.drain()] == [TITLE]
    failing = next(c for c in cases["items"] if c["alarm_class"] == "notify_failed")
    detail = manual.client.get(
        "/api/v1/cases/%d" % failing["id"], headers=manual.token("admin", "Admin-Password-2026")
    ).json()
    assert [a["note"] for a in detail["actions"] if a["action"] == "comment"] == [
        "the target takes notifications again"
    ]


def test_sms_rule_through_the_servers_modem(
    db_url: str, broker: Mosquitto, seed_file: Path, clock: FakeClock, watcher: Watcher
) -> None:
    with ModemStandIn() as modem, running(db_url, broker, seed_file, clock, 0, sms_port=modem.port) as r:
        root = r.token("admin", "Admin-Password-2026")
        resp = r.client.post(
            "/api/v1/notify-rules",
            headers=root,
            json={"name": "镇长手机", "region": "c01/t03", "target": "sms://+8613800138000"},
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["target"] == "sms://**********8000"
        modem.send_faults = [331]  # the first try meets no network
        panic(r, watcher)
        assert relay(r).step() == 1
        clock.advance(5)
        assert relay(r).step() == 1
        ((number, text),) = modem.messages()
        assert number == "+8613800138000"
        assert text == (
            "【守望】紧急求助 东村服务站，11月23日 16:00 起（已 0 分钟）。无人受理 受理：https://duty.example.cn/#/case/1/accept"
        )
        assert r.services.metrics.get("sms_failed", "no_network") == 1
        notes = [a["note"] for a in notify_actions(r)]
        assert notes[0].startswith("notifying sms://**********8000 failed (attempt 1)")
        assert notes[1] == "notified sms://**********8000: SMS sent (2 parts)"
        # The rule's test button sends at once, outside the outbox.
        test = r.client.post("/api/v1/notify-rules/%d/test" % resp.json()["id"], headers=root)
        assert test.json() == {"ok": True, "detail": "SMS sent (1 parts)"}


def test_a_server_killed_right_after_the_commit_delivers_after_restart(
    tmp_path: Path, db_url: str, broker: Mosquitto, seed_file: Path, hook: WebhookReceiver, watcher: Watcher
) -> None:
    from shouwang.local_stack import ServerProcess

    env = {"SHOUWANG_NOTIFY": hook.url, "SHOUWANG_PUBLIC_URL": "https://duty.example.cn"}
    hook.hang = True  # the first life never hears back from the webhook
    first = ServerProcess(tmp_path / "first", broker.url, seed=seed_file, db_url=db_url, env=env)
    first.start()
    gw = FakeGateway(broker.url)
    try:
        gw.send([ev(1, "panic", device_seq=1)])
        watcher.next("sw/v1/gw/gw-dongcun-01/ack")  # the case is committed
        first.kill()  # SIGKILL, no cleanup: the notification is only in the database
        hook.hang = False
        hook.release()
        second = ServerProcess(tmp_path / "second", broker.url, db_url=db_url, env=env)
        second.start()
        try:
            delivered = hook.next(timeout=20)
            assert delivered["title"] == TITLE
            assert delivered["message"].startswith("事件：紧急求助（案件 1）")
        finally:
            second.stop()
    finally:
        gw.close()
        first.stop()


def test_a_rule_stored_with_values_that_no_longer_read_breaks_neither_ingest_nor_listing(
    manual: Running, hook: WebhookReceiver, watcher: Watcher
) -> None:
    from sqlalchemy import update

    from server.notify.tables import NotifyRule

    root = manual.token("admin", "Admin-Password-2026")
    other = "json://127.0.0.1:%d/other" % hook.port
    resp = manual.client.post(
        "/api/v1/notify-rules", headers=root, json={"name": "旧规则", "region": "c01", "target": other}
    )
    assert resp.status_code == 201
    with manual.services.db.write() as s:  # as an older version or a hand edit might have left it
        s.execute(
            update(NotifyRule).values(
                quiet_start="7pm", quiet_end="25:99", timezone="Mars/Base", target=other
            )
        )
        s.execute(update(NotifyRule).values(target="nosuch://gone"))
    listed = manual.client.get("/api/v1/notify-rules", headers=root).json()["items"]
    assert [r["target"] for r in listed] == ["nosuch://…"]
    panic(manual, watcher)  # acked: the ingest transaction went through
    assert relay(manual).step() == 2  # SHOUWANG_NOTIFY's target, and the rule's (which fails)
    assert [m["title"] for m in hook.drain()] == [TITLE]
    (failed,) = [a for a in notify_actions(manual) if not a["data"]["ok"]]
    assert failed["data"]["error"] == "apprise does not understand this URL (scheme 'nosuch')"
