"""Events: the list query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, select

from server.db.models import EventRow
from server.scope import Scope, in_scope


def event_list(
    scope: Scope,
    *,
    device: str | None,
    gateway: str | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[EventRow]:
    """Events in the scope, newest first; ``since`` inclusive, ``until`` exclusive."""
    cond: list[ColumnElement[bool]] = [in_scope(EventRow.region_path, scope)]
    if device is not None:
        cond.append(EventRow.device_id == device)
    if gateway is not None:
        cond.append(EventRow.gateway_id == gateway)
    if kind is not None:
        cond.append(EventRow.kind == kind)
    if since is not None:
        cond.append(EventRow.at >= since)
    if until is not None:
        cond.append(EventRow.at < until)
    return select(EventRow).where(*cond).order_by(EventRow.at.desc(), EventRow.id.desc())
