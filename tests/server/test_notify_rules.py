"""Notification rules: matching, quiet hours, targets, messages, and the REST scope checks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from server.db.models import Case
from server.errors import Invalid
from server.notify.message import Message, render
from server.notify.rules import Recipient, RuleView, quiet_until, recipients
from server.notify.targets import Target, display, env_targets, parse_target
from tests.server.srv_support import PASSWORD, T0, Running

HOOK = "json://127.0.0.1:9/hook"


def case(**kw: Any) -> Case:
    values: dict[str, Any] = {
        "id": 12,
        "device_id": "sn-00a3",
        "alarm_class": "panic",
        "category": "alarm",
        "state": "new",
        "is_open": True,
        "escalation_level": 0,
        "region_path": "c01/t03/v12/g4",
        "opened_at": T0,
    }
    values.update(kw)
    return Case(**values)


def rule(rule_id: int, path: str | None, **kw: Any) -> RuleView:
    values: dict[str, Any] = {
        "id": rule_id,
        "region_path": path,
        "target": "json://127.0.0.1:9/r%d" % rule_id,
        "classes": None,
        "min_level": 0,
        "quiet": None,
        "timezone": "Asia/Shanghai",
        "language": "zh",
    }
    values.update(kw)
    return RuleView(**values)


def test_rules_of_the_case_region_and_above_match_once_per_target() -> None:
    rules = [
        rule(1, "c01/t03"),
        rule(2, "c01/t05"),  # another township
        rule(3, None, language="en"),
        rule(4, "c01/t03/v12", target=HOOK),  # same URL as the environment's: told once
        rule(5, "c01", min_level=2),  # only from the second escalation
    ]
    got = recipients(rules, (HOOK,), case(), "case_opened", T0, "Asia/Shanghai")
    assert got == [
        Recipient("env:0", None, HOOK, "zh", "Asia/Shanghai", T0),
        Recipient("rule:1", 1, "json://127.0.0.1:9/r1", "zh", "Asia/Shanghai", T0),
        Recipient("rule:3", 3, "json://127.0.0.1:9/r3", "en", "Asia/Shanghai", T0),
    ]
    escalated = recipients(rules, (), case(escalation_level=2), "case_escalated", T0, "UTC")
    assert [r.key for r in escalated] == ["rule:1", "rule:3", "rule:4", "rule:5"]


def test_classes_maintenance_and_unassigned_cases() -> None:
    rules = [rule(1, None, classes=frozenset({"fire"})), rule(2, None), rule(3, "c01")]
    assert [
        r.key for r in recipients(rules, (HOOK,), case(alarm_class="fire"), "case_opened", T0, "UTC")
    ] == [
        "env:0",
        "rule:1",
        "rule:2",
        "rule:3",
    ]
    # Maintenance cases reach only rules that name their class, never SHOUWANG_NOTIFY.
    battery = case(alarm_class="battery", category="maintenance")
    assert recipients(rules, (HOOK,), battery, "case_opened", T0, "UTC") == []
    named = [rule(9, None, classes=frozenset({"battery"}))]
    assert [r.key for r in recipients(named, (HOOK,), battery, "case_opened", T0, "UTC")] == ["rule:9"]
    # A case with no region reaches root rules only.
    assert [r.key for r in recipients(rules, (), case(region_path=None), "case_opened", T0, "UTC")] == [
        "rule:2"
    ]


def test_quiet_hours_defer_intrusion_but_never_panic_medical_or_fire() -> None:
    night = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    quiet = rule(1, None, quiet=(time(22, 0), time(7, 0)), classes=frozenset({"intrusion", "panic", "fire"}))
    morning = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 next day in Shanghai
    (deferred,) = recipients([quiet], (), case(alarm_class="intrusion"), "case_opened", night, "UTC")
    assert deferred.due_at == morning
    for urgent in ("panic", "fire"):
        (now,) = recipients([quiet], (), case(alarm_class=urgent), "case_opened", night, "UTC")
        assert now.due_at == night


def test_quiet_windows() -> None:
    tz = "Asia/Shanghai"
    day = (time(12, 0), time(14, 0))
    at = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # 12:30 local
    assert quiet_until(day, tz, at) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert quiet_until(day, tz, at + timedelta(hours=2)) is None  # 14:30 local
    overnight = (time(22, 0), time(7, 0))
    early = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # 05:00 local on the 24th
    assert quiet_until(overnight, tz, early) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert quiet_until(overnight, tz, datetime(2026, 11, 23, 4, 0, tzinfo=UTC)) is None
    assert quiet_until((time(8, 0), time(8, 0)), tz, at) is None


def test_targets() -> None:
    assert parse_target("sms://+8613800138000,10086") == Target(
        "sms://+8613800138000,10086", ("+8613800138000", "10086")
    )
    assert parse_target("dingtalk://token123/") == Target("dingtalk://token123/")
    for bad in ("", "nosuch://x", "sms://", "sms://12ab", "x" * 2001):
        with pytest.raises(Invalid) as exc:
            parse_target(bad)
        assert exc.value.reason == "bad_target"
    assert display("sms://+8613800138000") == "sms://**********8000"
    assert display("mailto://user:secret@example.com") == "mailto://user:****@example.com/"
    assert "token123456" not in display("dingtalk://token123456/")
    assert env_targets(None) == ()
    assert env_targets(" json://127.0.0.1:9/a,wecombot://key1  mailto://u:p@x.cn?to=a@b.cn,c@d.cn ") == (
        "json://127.0.0.1:9/a",
        "wecombot://key1",
        "mailto://u:p@x.cn?to=a@b.cn,c@d.cn",
    )
    with pytest.raises(Invalid):
        env_targets("json://127.0.0.1:9/a nosuch://b")


ALERT = {
    "station": {"code": "st-dongcun", "name": "东村服务站"},
    "device": {"id": "sn-00a3", "name": "王奶奶家 呼叫按钮"},
    "region": {"path": ["c01", "c01/t03"], "names": ["东县", "河镇", "东村", "第四网格"]},
    "location": {"lat": 34.1, "lon": 108.9, "address": "东村 1 号"},
}


def test_message_in_chinese() -> None:
    msg = render(
        "case_opened",
        case(),
        ALERT,
        language="zh",
        base_url="https://sw.example.cn/",
        now=T0 + timedelta(minutes=3),
        timezone="Asia/Shanghai",
    )
    assert msg == Message(
        "【守望】紧急求助 · 东村服务站",
        "事件：紧急求助（案件 12），设备：王奶奶家 呼叫按钮\n"
        "地点：东县 / 河镇 / 东村 / 第四网格，东村服务站，东村 1 号\n"
        "时间：11月23日 16:00 起（已 3 分钟）\n"
        "处理：查看案件 https://sw.example.cn/#/case/12\n"
        "受理（需登录）：https://sw.example.cn/#/case/12/accept",
        "【守望】紧急求助 东村服务站，11月23日 16:00 起（已 3 分钟）。无人受理 受理：https://sw.example.cn/#/case/12/accept",
    )


def test_escalation_message_in_english() -> None:
    msg = render(
        "case_escalated",
        case(escalation_level=2, alarm_class="fire"),
        {},
        language="en",
        base_url="http://127.0.0.1:8000",
        now=T0 + timedelta(minutes=2),
        timezone="UTC",
    )
    assert msg == Message(
        "[Shouwang] Escalation 2: Fire alarm not accepted · ",
        "What: Fire alarm (case 12), device: sn-00a3\n"
        "Where: unassigned\n"
        "When: since 23 Nov 08:00 (2 min ago)\n"
        "Act: open the case http://127.0.0.1:8000/#/case/12\n"
        "Accept (sign-in needed): http://127.0.0.1:8000/#/case/12/accept",
        "[Shouwang] Fire alarm at unassigned, since 23 Nov 08:00 (2 min ago), not accepted. "
        "Accept: http://127.0.0.1:8000/#/case/12/accept",
    )


# -- REST ------------------------------------------------------------------------------------

RULE = {
    "name": "河镇值班群",
    "region": "c01/t03",
    "target": "dingtalk://secrettoken123/",
    "classes": ["panic"],
}


def admin(server: Running, name: str, region: str | None) -> dict[str, str]:
    root = server.token("admin", "Admin-Password-2026")
    resp = server.client.post(
        "/api/v1/users",
        headers=root,
        json={"username": name, "password": PASSWORD, "role": "admin", "region": region},
    )
    assert resp.status_code == 201, resp.text
    return server.token(name)


def test_admins_manage_rules_within_their_scope(server: Running) -> None:
    t03 = admin(server, "admin-t03", "c01/t03")
    t05 = admin(server, "admin-t05", "c01/t05")
    api = server.client
    resp = api.post("/api/v1/notify-rules", headers=t03, json=RULE)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created == {
        "id": created["id"],
        "name": "河镇值班群",
        "region": "c01/t03",
        "target": "dingtalk://s...3//",
        "classes": ["panic"],
        "min_level": 0,
        "quiet_start": None,
        "quiet_end": None,
        "timezone": "Asia/Shanghai",
        "language": "zh",
        "enabled": True,
        "created_by": "admin-t03",
    }
    rid = created["id"]
    assert [r["id"] for r in api.get("/api/v1/notify-rules", headers=t03).json()["items"]] == [rid]
    assert api.get("/api/v1/notify-rules", headers=t05).json()["items"] == []
    # Another subtree's admin: the rule does not exist for them.
    assert (
        api.put("/api/v1/notify-rules/%d" % rid, headers=t05, json={**RULE, "region": "c01/t05"}).status_code
        == 404
    )
    assert api.delete("/api/v1/notify-rules/%d" % rid, headers=t05).status_code == 404
    # Its own admin may not move it out of their subtree, nor make a root rule.
    moved = api.put("/api/v1/notify-rules/%d" % rid, headers=t03, json={**RULE, "region": "c01/t05"})
    assert (moved.status_code, moved.json()["reason"]) == (422, "unknown_region")
    root_rule = api.post("/api/v1/notify-rules", headers=t03, json={**RULE, "region": None})
    assert (root_rule.status_code, root_rule.json()["reason"]) == (403, "outside_scope")
    # An update without a target keeps the saved one.
    kept = api.put(
        "/api/v1/notify-rules/%d" % rid,
        headers=t03,
        json={"name": "夜间", "region": "c01/t03/v12", "quiet_start": "22:00", "quiet_end": "07:00"},
    )
    assert kept.status_code == 200, kept.text
    assert (kept.json()["target"], kept.json()["region"], kept.json()["classes"]) == (
        "dingtalk://s...3//",
        "c01/t03/v12",
        None,
    )
    # The secret part of the target is never read back, by anyone.
    root = server.token("admin", "Admin-Password-2026")
    assert "secrettoken123" not in api.get("/api/v1/notify-rules", headers=root).text
    assert api.delete("/api/v1/notify-rules/%d" % rid, headers=t03).status_code == 204
    assert api.get("/api/v1/notify-rules", headers=root).json()["total"] == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"target": "nosuch://x"}, "bad_target"),
        ({"target": "sms://12ab"}, "bad_target"),
        ({"quiet_start": "22:00"}, "bad_quiet_hours"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "bad_quiet_hours"),
        ({"timezone": "Mars/Base"}, "bad_timezone"),
        ({"classes": ["panic", "alien"]}, "bad_classes"),
        ({"region": "c09"}, "unknown_region"),
    ],
)
def test_bad_rules_are_refused(server: Running, change: dict[str, Any], reason: str) -> None:
    root = server.token("admin", "Admin-Password-2026")
    resp = server.client.post("/api/v1/notify-rules", headers=root, json={**RULE, **change})
    assert (resp.status_code, resp.json()["reason"]) == (422, reason)


def test_only_admins_see_rules(server: Running) -> None:
    for user in ("duty-c01", "viewer-t03"):
        resp = server.client.get("/api/v1/notify-rules", headers=server.token(user))
        assert resp.status_code == 403
    assert server.client.get("/api/v1/notify-rules").status_code == 401
