"""A panel's message as events: the same ``protocol.Event`` a gateway sends, so panel alarms
take the gateway path (store, case, alert, escalation) unchanged.

A panel has no gateway and no outbox sequence. Its events use the panel's device id
(``sia-<account>``) as the gateway part of the event id and, as the sequence, a number derived
from the frame itself (account, sequence number, route, content and timestamp): the same frame
sent again gives the same ids, so a resend is recognised and stored once. A frame without a
timestamp (allowed in plain text) adds the UTC day it arrived, so a sequence number that wraps
after 9999 messages never hides a new alarm behind an old one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from protocol.dc09 import Message
from protocol.event import Event
from protocol.ids import panel_device_id
from protocol.kinds import Kind

SOURCE = "sia-dc09"
_SEQ_BITS = 52  # fits a BIGINT and a JSON number exactly


def frame_digest(message: Message, received_at: datetime) -> str:
    """Stable identity of a frame: what the panel would send again on a retry."""
    frame = message.frame
    when = message.timestamp.isoformat() if message.timestamp is not None else received_at.date().isoformat()
    text = "|".join(
        (message.account, frame.type, frame.seq, frame.receiver or "", frame.line, message.data,
         repr(message.xdata), when)
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _seq(basis: str) -> int:
    return int(hashlib.sha256(basis.encode("ascii")).hexdigest(), 16) >> (256 - _SEQ_BITS)


def panel_events(message: Message, received_at: datetime, zones: dict[str, str] | None = None) -> list[Event]:
    """One event per event code in the message (a NULL link test gives none)."""
    device = panel_device_id(message.account)
    digest = frame_digest(message, received_at)
    at = message.timestamp or received_at
    frame = message.frame
    out: list[Event] = []
    for index, item in enumerate(message.events):
        data: dict[str, Any] = {
            "source": SOURCE,
            "format": frame.type,
            "code": item.code,
            "label": item.meaning.label,
            "panel_seq": frame.seq,
        }
        if item.meaning.restore:
            data["restore"] = True
        if not item.meaning.known:
            data["unknown_code"] = True
        if item.zone is not None:
            data["zone"] = item.zone
            # Saved through the API without leading zeros; as sent, for rows written otherwise.
            name = (zones or {}).get(item.zone.lstrip("0") or "0") or (zones or {}).get(item.zone)
            if name:
                data["zone_name"] = name
        if item.area is not None:
            data["area"] = item.area
        if item.text:
            data["text"] = item.text
        if message.xdata:
            data["xdata"] = {key: value for key, value in message.xdata}
        out.append(
            Event.create(
                gateway=device,
                seq=_seq("%s/%d" % (digest, index)),
                device=device,
                kind=item.meaning.kind,
                at=at,
                data=data,
            )
        )
    return out


def link_event(device: str, kind: Kind, at: datetime, basis: str, data: dict[str, Any]) -> Event:
    """``device_missing`` / ``device_back`` raised by the receiver itself; ``basis`` makes the
    id (the same missing spell gives the same id on every server instance)."""
    return Event.create(
        gateway=device,
        seq=_seq("%s/%s/%s" % (device, kind.value, basis)),
        device=device,
        kind=kind,
        at=at,
        data={"source": SOURCE, **data},
    )
