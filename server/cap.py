"""A case as a CAP 1.2 alert message (OASIS Common Alerting Protocol), for other alerting systems.

One message describes the case as it stands now. The first version (opened, nobody has acted)
is an ``Alert``; every later version is an ``Update`` referring to that Alert, or a ``Cancel``
once the case is closed as a false alarm or withdrawn. The identifier carries the case id and
the version (one more per audit record after the opening), so the same state always gives the
same identifier and a changed case a new one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.db.models import Case, CaseAction, Region
from server.geo import polygons
from server.labels import label
from server.places import Place

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MEDIA_TYPE = "application/cap+xml"
INFO_LANGUAGES = (("zh-CN", "zh-CN"), ("en", "en-US"))  # console language, CAP language
POINT_RADIUS_KM = "0.05"  # a device is a point; CAP areas are circles, so a 50 m one
ET.register_namespace("", NS)  # CAP readers expect the namespace as the default one

CATEGORY = {
    "panic": "Safety",
    "medical": "Health",
    "fire": "Fire",
    "intrusion": "Security",
    "tamper": "Security",
    "battery": "Infra",
    "missing": "Infra",
    "gateway_offline": "Infra",
}
SEVERITY = {
    "fire": "Extreme",
    "panic": "Severe",
    "medical": "Severe",
    "intrusion": "Severe",
    "tamper": "Moderate",
}
CANCELLING = frozenset({"false_alarm", "cancelled"})
SENDER_NAME = {"zh-CN": "守望 值班台", "en": "Shouwang duty room"}
WORDS = {
    "zh-CN": {"state": "状态", "device": "设备", "station": "服务站", "address": "地址", "deadline": "时限"},
    "en": {
        "state": "State",
        "device": "Device",
        "station": "Station",
        "address": "Address",
        "deadline": "Deadline",
    },
}


def cap_time(at: datetime) -> str:
    """CAP times have seconds and a numeric zone; UTC is written ``-00:00`` (CAP 1.2, 3.3.2)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


@dataclass(frozen=True)
class CaseFacts:
    """Everything the message says, read by the caller in its own transaction."""

    case: Case
    actions: Sequence[CaseAction]  # oldest first
    place: Place
    chain: Sequence[Region]  # root .. the case's region (which may differ from the device's)


def sender(chain: Sequence[Region]) -> str:
    """``shouwang-<county code>``: the duty network that speaks, the same for every instance."""
    return "shouwang-%s" % chain[0].code if chain else "shouwang"


def message_type(facts: CaseFacts) -> str:
    case = facts.case
    if not case.is_open and case.resolution in CANCELLING:
        return "Cancel"
    return "Alert" if version(facts) == 1 else "Update"


def version(facts: CaseFacts) -> int:
    return 1 + sum(1 for a in facts.actions if a.action != "open")


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, "{%s}%s" % (NS, tag))
    if text is not None:
        node.text = text
    return node


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    node = _sub(parent, tag)
    _sub(node, "valueName", name)
    _sub(node, "value", value)


def _polygon_texts(chain: Sequence[Region]) -> list[str]:
    """Outer rings of the nearest region with a geometry (the grid, else a parent), as CAP
    ``lat,lon`` pairs; GeoJSON rings are ``[lon, lat]`` and already closed."""
    for region in reversed(chain):
        if region.geometry is not None:
            rings = [poly[0] for poly in polygons(region.geometry)]
            return [" ".join("%s,%s" % (lat, lon) for lon, lat in ring) for ring in rings]
    return []


def _info(root: ET.Element, facts: CaseFacts, lang: str, cap_lang: str) -> None:
    case, place = facts.case, facts.place
    closed = not case.is_open
    info = _sub(root, "info")
    _sub(info, "language", cap_lang)
    _sub(info, "category", CATEGORY.get(case.alarm_class, "Other"))
    event = label(lang, "kind", case.kind)
    _sub(info, "event", event)
    if closed and case.resolution == "resolved":
        _sub(info, "responseType", "AllClear")
    if closed:
        urgency = "Past"
    else:
        urgency = "Immediate" if case.category == "alarm" else "Expected"
    _sub(info, "urgency", urgency)
    _sub(info, "severity", SEVERITY.get(case.alarm_class, "Minor"))
    if case.resolution == "false_alarm":
        certainty = "Unlikely"
    else:
        certainty = "Unknown" if case.kind == "test" else "Observed"
    _sub(info, "certainty", certainty)
    _pair(info, "eventCode", "shouwang:kind", case.kind)
    _sub(info, "effective", cap_time(case.opened_at))
    _sub(info, "senderName", SENDER_NAME[lang])
    device = place.device
    device_name = device.name if device is not None and device.name else case.device_id
    station = place.station.name if place.station is not None else None
    _sub(info, "headline", " · ".join(p for p in (event, device_name, station) if p))
    words = WORDS[lang]
    location = place.location() or {}
    parts = [
        "%s: %s" % (words["state"], label(lang, "state", case.state)),
        "%s: %s (%s)" % (words["device"], device_name, case.device_id),
    ]
    if station:
        parts.append("%s: %s" % (words["station"], station))
    if location.get("address"):
        parts.append("%s: %s" % (words["address"], location["address"]))
    if case.is_open and case.deadline is not None:
        parts.append("%s: %s" % (words["deadline"], cap_time(case.deadline)))
    _sub(info, "description", "; ".join(parts))
    params: list[tuple[str, str]] = [
        ("shouwang:caseId", str(case.id)),
        ("shouwang:state", case.state),
        ("shouwang:deadlineStatus", case.deadline_status if case.is_open else "none"),
        ("shouwang:escalationLevel", str(case.escalation_level)),
        ("shouwang:eventCount", str(case.event_count)),
    ]
    if case.resolution:
        params.append(("shouwang:resolution", case.resolution))
    for name, value in params:
        _pair(info, "parameter", name, value)
    _area(info, facts, location)


def _area(info: ET.Element, facts: CaseFacts, location: dict[str, Any]) -> None:
    names = [r.name for r in facts.chain]
    rings = _polygon_texts(facts.chain)
    point = location.get("lat") is not None and location.get("lon") is not None
    if not names and not rings and not point and not location.get("address"):
        return
    area = _sub(info, "area")
    _sub(area, "areaDesc", " › ".join(names) or str(location.get("address")))
    for ring in rings:
        _sub(area, "polygon", ring)
    if point:
        _sub(area, "circle", "%s,%s %s" % (location["lat"], location["lon"], POINT_RADIUS_KM))
    if facts.case.region_path:
        _pair(area, "geocode", "shouwang:region", facts.case.region_path)


def cap_document(facts: CaseFacts) -> bytes:
    case = facts.case
    who = sender(facts.chain)
    kind = message_type(facts)
    last = facts.actions[-1].at if facts.actions else case.opened_at
    first = facts.actions[0].at if facts.actions and facts.actions[0].action == "open" else case.opened_at
    root = ET.Element("{%s}alert" % NS)
    _sub(root, "identifier", "%s:case:%d:%d" % (who, case.id, version(facts)))
    _sub(root, "sender", who)
    _sub(root, "sent", cap_time(last if kind != "Alert" else first))
    _sub(root, "status", "Test" if case.kind == "test" else "Actual")
    _sub(root, "msgType", kind)
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", "duty rooms of region %s" % (case.region_path or "(unassigned)"))
    if case.resolution in CANCELLING:
        _sub(root, "note", label("en", "resolution", case.resolution))
    if kind != "Alert":
        _sub(root, "references", "%s,%s:case:%d:1,%s" % (who, who, case.id, cap_time(first)))
    _sub(root, "incidents", "%s:case:%d" % (who, case.id))
    for lang, cap_lang in INFO_LANGUAGES:
        _info(root, facts, lang, cap_lang)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
