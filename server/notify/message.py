"""What a notification says: what, where, since when, and how to act. Chinese by default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server.db.models import Case

LANGUAGES = ("zh", "en")
CLASS_NAMES: dict[str, dict[str, str]] = {
    "zh": {
        "panic": "紧急求助",
        "medical": "医疗求助",
        "fire": "火警",
        "intrusion": "入侵报警",
        "tamper": "设备被拆",
        "battery": "设备电量低",
        "missing": "设备失联",
        "gateway_offline": "服务站网关离线",
        "notify_failed": "通知发送失败",
    },
    "en": {
        "panic": "Panic alarm",
        "medical": "Medical alarm",
        "fire": "Fire alarm",
        "intrusion": "Intrusion",
        "tamper": "Device tampered",
        "battery": "Low battery",
        "missing": "Device missing",
        "gateway_offline": "Station gateway offline",
        "notify_failed": "Notifications failing",
    },
}
STATE_NAMES = {
    "zh": {"new": "无人受理", "accepted": "已受理未派遣", "dispatched": "已派遣未处置", "handling": "处置中"},
    "en": {
        "new": "not accepted",
        "accepted": "accepted, not dispatched",
        "dispatched": "dispatched, not started",
        "handling": "being handled",
    },
}


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    short: str  # for SMS: the same in as few characters as will do


def case_link(base_url: str, case_id: int) -> str:
    return "%s/#/case/%d" % (base_url.rstrip("/"), case_id)


def accept_link(base_url: str, case_id: int) -> str:
    return case_link(base_url, case_id) + "/accept"


def _since(opened: datetime, now: datetime, tz: ZoneInfo, language: str) -> str:
    local = opened.astimezone(tz)
    minutes = max(0, int((now - opened).total_seconds() // 60))
    if language == "zh":
        return "%s 起（已 %d 分钟）" % (local.strftime("%m月%d日 %H:%M"), minutes)
    return "since %s (%d min ago)" % (local.strftime("%d %b %H:%M"), minutes)


def render(
    trigger: str,
    case: Case,
    alert: dict[str, Any],
    *,
    language: str,
    base_url: str,
    now: datetime,
    timezone: str,
) -> Message:
    """``alert`` is the duty alert payload of the change (``server.alerts``)."""
    lang = language if language in LANGUAGES else "zh"
    tz = ZoneInfo(timezone)
    what = CLASS_NAMES[lang].get(case.alarm_class, case.alarm_class)
    station = (alert.get("station") or {}).get("name")
    device = (alert.get("device") or {}).get("name") or case.device_id
    names = [n for n in (alert.get("region") or {}).get("names", []) if n]
    address = (alert.get("location") or {}).get("address")
    where_parts = [p for p in (" / ".join(names), station, address) if p]
    where = ("，" if lang == "zh" else ", ").join(where_parts) or (
        "未分配区域" if lang == "zh" else "unassigned"
    )
    since = _since(case.opened_at, now, tz, lang)
    link, accept = case_link(base_url, case.id), accept_link(base_url, case.id)
    place = station or (names[-1] if names else "")
    level = case.escalation_level
    state = STATE_NAMES[lang].get(case.state, case.state)
    if lang == "zh":
        if trigger == "case_escalated":
            title = "【守望】第%d次升级：%s %s · %s" % (level, what, state, place)
        else:
            title = "【守望】%s · %s" % (what, place)
        body = "\n".join(
            [
                "事件：%s（案件 %d），设备：%s" % (what, case.id, device),
                "地点：%s" % where,
                "时间：%s" % since,
                "处理：查看案件 %s" % link,
                "受理（需登录）：%s" % accept,
            ]
        )
        short = "【守望】%s %s，%s。%s 受理：%s" % (what, place or where, since, state, accept)
    else:
        if trigger == "case_escalated":
            title = "[Shouwang] Escalation %d: %s %s · %s" % (level, what, state, place)
        else:
            title = "[Shouwang] %s · %s" % (what, place)
        body = "\n".join(
            [
                "What: %s (case %d), device: %s" % (what, case.id, device),
                "Where: %s" % where,
                "When: %s" % since,
                "Act: open the case %s" % link,
                "Accept (sign-in needed): %s" % accept,
            ]
        )
        short = "[Shouwang] %s at %s, %s, %s. Accept: %s" % (what, place or where, since, state, accept)
    return Message(title, body, short)
