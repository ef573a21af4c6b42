"""Enriched duty alerts: what a duty room needs to act without asking the server again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from protocol.event import VERSION, format_time
from server.db.models import Case, EventRow, Region
from server.places import Place, region_chain, resolve_place

if TYPE_CHECKING:
    from server.outbox import OutboxItem

ALERT_TYPES = ("case_opened", "event_attached", "case_updated", "case_escalated")


@dataclass(frozen=True)
class Alert:
    region_path: list[str]  # [] means unassigned
    payload: dict[str, Any]
    # Its row in the outbox, once the alert hook wrote it there: whoever publishes after the
    # commit leaves such an alert to the relay.
    outbox: OutboxItem | None = field(default=None, compare=False)


# Called inside the transaction that built the alerts (notifications are written with them).
AlertHook = Callable[[Session, Sequence[Alert], datetime], object]


def no_hook(session: Session, alerts: Sequence[Alert], now: datetime) -> None:
    return None


def iso(at: datetime | None) -> str | None:
    return format_time(at) if at is not None else None


def event_dict(row: EventRow) -> dict[str, Any]:
    """The protocol Event dict, as the gateway sent it."""
    out: dict[str, Any] = {
        "v": VERSION,
        "id": row.id,
        "gateway": row.gateway_id,
        "device": row.device_id,
        "kind": row.kind,
        "priority": row.priority,
        "at": iso(row.at),
    }
    if row.device_seq is not None:
        out["device_seq"] = row.device_seq
    out["data"] = row.data
    return out


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "state": case.state,
        "alarm_class": case.alarm_class,
        "kind": case.kind,
        "priority": case.priority,
        "opened_at": iso(case.opened_at),
        "deadline": iso(case.deadline),
        "event_count": case.event_count,
        "deadline_status": case.deadline_status,
        "escalation_level": case.escalation_level,
    }


def build_alert(
    session: Session,
    kind: str,
    case: Case,
    event: EventRow | None,
    place: Place | None = None,
    topic_path: list[str] | None = None,
) -> Alert:
    """``topic_path`` overrides where the alert goes (escalation goes up the tree)."""
    if kind not in ALERT_TYPES:
        raise ValueError(kind)
    if place is None:
        place = resolve_place(session, case.device_id, case.gateway_id)
    device = place.device
    station = place.station
    # The case's region, not the device's: a transferred case goes to its new owners.
    if place.region is not None and place.region.id == case.region_id:
        chain = place.chain  # the usual case, already resolved for the whole batch
    else:
        region = session.get(Region, case.region_id) if case.region_id is not None else None
        chain = region_chain(session, region) if region is not None else []
    path = [r.code for r in chain]
    payload: dict[str, Any] = {
        "v": 1,
        "type": kind,
        "case": case_summary(case),
        "event": event_dict(event) if event is not None else None,
        "device": {
            "id": case.device_id,
            "name": device.name if device is not None else None,
            "model": device.model if device is not None else None,
        },
        "station": {"code": station.code, "name": station.name} if station is not None else None,
        "region": {"path": path, "names": [r.name for r in chain]},
        "location": place.location(),
    }
    if kind == "case_escalated":
        payload["escalation"] = {"level": case.escalation_level, "region": topic_path or []}
    return Alert(path if topic_path is None else topic_path, payload)
