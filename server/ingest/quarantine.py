"""Events a gateway sent for a device registered to another gateway: kept aside, never a case.

A gateway may speak only for its own devices. What it says about another station's device (a
panic, a fire, a cancel of someone else's alarm) is stored here for admins to see, counted and
acked, so the gateway does not send it again, but it never opens, joins or settles a case.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from protocol.event import Event, format_time
from protocol.kinds import DEFAULT_PRIORITY
from server.db.models import QuarantinedEvent
from server.ingest.dead_letters import gateway_region_path
from server.places import Place

log = logging.getLogger(__name__)


def foreign(ev: Event, place: Place) -> bool:
    """The device is registered to a gateway, and it is not the one that sent the event."""
    owner = place.device.gateway_id if place.device is not None else None
    return owner is not None and owner != ev.gateway


def is_quarantined(session: Session, gateway: str, event_id: str) -> bool:
    """Did ``gateway`` send an event under ``event_id`` that was quarantined?"""
    found = session.scalar(
        select(QuarantinedEvent.id)
        .where(QuarantinedEvent.event_id == event_id, QuarantinedEvent.gateway_id == gateway)
        .limit(1)
    )
    return found is not None


def _digest(ev: Event) -> str:
    body = [ev.device, ev.kind.value, format_time(ev.at), ev.device_seq, ev.data]
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def quarantine(
    session: Session, events: list[Event], places: dict[str, Place], now: datetime
) -> tuple[list[str], list[str]]:
    """Keep ``events`` aside; (ids quarantined now, ids already quarantined with this content)."""
    sender_paths = {gw: gateway_region_path(session, gw) for gw in {ev.gateway for ev in events}}
    rows = []
    for ev in events:
        place = places[ev.device]
        assert place.device is not None and place.device.gateway_id is not None
        rows.append(
            {
                "event_id": ev.id,
                "gateway": ev.gateway,
                "device": ev.device,
                "device_gateway": place.device.gateway_id,
                "kind": ev.kind.value,
                "priority": DEFAULT_PRIORITY[ev.kind].value,
                "at": ev.at,
                "received_at": now,
                "device_seq": ev.device_seq,
                "data": ev.data,
                "digest": _digest(ev),
                "region_path": place.path_text,
                "gateway_region_path": sender_paths[ev.gateway],
            }
        )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = QuarantinedEvent.__table__
    stmt = (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.event_id, table.c.digest])
        .returning(table.c.event_id, table.c.digest)
    )
    session.flush()
    stored = {(r.event_id, r.digest) for r in session.execute(stmt, rows)}
    new, again = [], []
    for ev, row in zip(events, rows, strict=True):
        key = (ev.id, row["digest"])
        if key in stored:
            stored.discard(key)  # the same event twice in one batch counts once
            new.append(ev.id)
        else:
            again.append(ev.id)
    if new:
        log.warning(
            "gateway %s sent %d events for devices of other gateways; quarantined: %s",
            events[0].gateway,
            len(new),
            ", ".join("%s (%s of %s)" % (r["event_id"], r["device"], r["device_gateway"]) for r in rows[:10]),
        )
    return new, again
