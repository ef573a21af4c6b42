"""Words for the tokens people read in exports and CAP documents, in both console languages.

The console has the same words in ``server/console/static/i18n.js``; a test keeps the two equal.
"""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")

LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "kind.panic": "紧急呼叫",
        "kind.panic_cancel": "取消呼叫",
        "kind.medical": "医疗求助",
        "kind.fire": "火警",
        "kind.intrusion": "入侵报警",
        "kind.door_open": "门已打开",
        "kind.door_close": "门已关闭",
        "kind.tamper": "防拆报警",
        "kind.tamper_restore": "防拆恢复",
        "kind.low_battery": "电量低",
        "kind.battery_ok": "电量正常",
        "kind.device_missing": "设备失联",
        "kind.device_back": "设备恢复",
        "kind.heartbeat": "心跳",
        "kind.test": "测试",
        "kind.gateway_offline": "网关离线",
        "state.new": "待受理",
        "state.accepted": "已受理",
        "state.dispatched": "已派遣",
        "state.handling": "处置中",
        "state.replied": "已回复",
        "state.verified": "已核查",
        "state.closed": "已结案",
        "resolution.resolved": "已处置",
        "resolution.false_alarm": "误报",
        "resolution.cancelled": "已撤销",
    },
    "en": {
        "kind.panic": "Panic button",
        "kind.panic_cancel": "Panic cancelled",
        "kind.medical": "Medical help",
        "kind.fire": "Fire",
        "kind.intrusion": "Intrusion",
        "kind.door_open": "Door opened",
        "kind.door_close": "Door closed",
        "kind.tamper": "Tamper",
        "kind.tamper_restore": "Tamper restored",
        "kind.low_battery": "Low battery",
        "kind.battery_ok": "Battery OK",
        "kind.device_missing": "Device missing",
        "kind.device_back": "Device back",
        "kind.heartbeat": "Heartbeat",
        "kind.test": "Test",
        "kind.gateway_offline": "Gateway offline",
        "state.new": "New",
        "state.accepted": "Accepted",
        "state.dispatched": "Dispatched",
        "state.handling": "Handling",
        "state.replied": "Replied",
        "state.verified": "Verified",
        "state.closed": "Closed",
        "resolution.resolved": "resolved",
        "resolution.false_alarm": "false alarm",
        "resolution.cancelled": "cancelled",
    },
}


def label(lang: str, prefix: str, token: str | None) -> str:
    """The word for ``prefix.token``; the token itself when there is none; "" for no token."""
    if token is None:
        return ""
    return LABELS.get(lang, LABELS["zh-CN"]).get(prefix + "." + token, token)
