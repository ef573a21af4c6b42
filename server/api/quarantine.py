"""What ingest kept aside: quarantined events and dead letters (admins, within their subtree)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select

from server.api.bounds import DeviceId, GatewayId
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, page_rows
from server.db.models import DeadLetter, QuarantinedEvent
from server.safe_json import printable
from server.scope import in_scope, require_admin

router = APIRouter(tags=["ingest"], responses=ERRORS)
PREVIEW = 2000  # characters of a dead letter's payload shown in a listing


class QuarantinedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "gw-xicun-01:17",
                "gateway": "gw-xicun-01",
                "device": "sn-00a3",
                "device_gateway": "gw-dongcun-01",
                "kind": "panic_cancel",
                "priority": "alarm",
                "at": "2026-11-23T08:00:01.250Z",
                "received_at": "2026-11-23T08:00:01.260Z",
                "device_seq": 18,
                "data": {},
                "region_path": "c01/t03/v12/g4",
                "gateway_region_path": "c01/t05/v01/g1",
            }
        }
    )
    id: str
    gateway: str
    device: str
    device_gateway: str
    kind: str
    priority: str
    at: datetime
    received_at: datetime
    device_seq: int | None
    data: dict[str, Any]
    region_path: str | None
    gateway_region_path: str | None


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 3,
                "gateway": "gw-dongcun-01",
                "topic": "sw/v1/gw/gw-dongcun-01/events",
                "reason": "bad_json",
                "detail": "Expecting value: line 1 column 1 (char 0)",
                "size": 11,
                "count": 1,
                "first_at": "2026-11-23T08:00:01.260Z",
                "last_at": "2026-11-23T08:00:01.260Z",
                "preview": "\ufffd not json",
                "region_path": "c01/t03/v12/g4",
            }
        }
    )
    id: int
    gateway: str | None
    topic: str
    reason: str
    detail: str
    size: int
    count: int
    first_at: datetime
    last_at: datetime
    preview: str
    region_path: str | None


@router.get(
    "/quarantine",
    response_model=Page[QuarantinedOut],
    summary="Events a gateway sent for another gateway's device (admins; device's or sender's region)",
)
def list_quarantine(
    svc: ServicesDep,
    scope: ScopeDep,
    gateway: GatewayId | None = None,
    device: DeviceId | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[QuarantinedOut]:
    require_admin(scope)
    q = QuarantinedEvent
    stmt = select(q).where(or_(in_scope(q.region_path, scope), in_scope(q.gateway_region_path, scope)))
    if gateway is not None:
        stmt = stmt.where(q.gateway_id == gateway)
    if device is not None:
        stmt = stmt.where(q.device_id == device)
    with svc.db.read() as session:
        total, rows = page_rows(session, stmt.order_by(q.received_at.desc(), q.id.desc()), limit, offset)
        items = [
            QuarantinedOut(
                id=r.event_id,
                gateway=r.gateway_id,
                device=r.device_id,
                device_gateway=r.device_gateway_id,
                kind=r.kind,
                priority=r.priority,
                at=r.at,
                received_at=r.received_at,
                device_seq=r.device_seq,
                data=r.data,
                region_path=r.region_path,
                gateway_region_path=r.gateway_region_path,
            )
            for r in rows
        ]
    return Page[QuarantinedOut](items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/dead-letters",
    response_model=Page[DeadLetterOut],
    summary="Messages refused whole as unreadable (admins; the sending gateway's region)",
)
def list_dead_letters(
    svc: ServicesDep,
    scope: ScopeDep,
    gateway: GatewayId | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DeadLetterOut]:
    require_admin(scope)
    stmt = select(DeadLetter).where(in_scope(DeadLetter.region_path, scope))
    if gateway is not None:
        stmt = stmt.where(DeadLetter.gateway_id == gateway)
    with svc.db.read() as session:
        ordered = stmt.order_by(DeadLetter.last_at.desc(), DeadLetter.id.desc())
        total, rows = page_rows(session, ordered, limit, offset)
        items = [
            DeadLetterOut(
                id=d.id,
                gateway=d.gateway_id,
                topic=d.topic,
                reason=d.reason,
                detail=d.detail,
                size=d.size,
                count=d.count,
                first_at=d.first_at,
                last_at=d.last_at,
                preview=printable(d.payload[:PREVIEW].decode("utf-8", "replace"), PREVIEW),
                region_path=d.region_path,
            )
            for d in rows
        ]
    return Page[DeadLetterOut](items=items, total=total, limit=limit, offset=offset)
