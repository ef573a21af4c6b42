"""Request and response bodies of the REST API (they shape /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class ErrorBody(BaseModel):
    detail: str
    reason: str


class EventOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "gw-dongcun-01:42",
                "gateway": "gw-dongcun-01",
                "seq": 42,
                "device": "sn-00a3",
                "kind": "panic",
                "priority": "alarm",
                "at": "2026-11-23T08:00:00.123Z",
                "received_at": "2026-11-23T08:00:00.301Z",
                "device_seq": 17,
                "data": {"battery": 87},
                "region_path": "c01/t03/v12/g4",
            }
        }
    )
    id: str
    gateway: str
    seq: int
    device: str
    kind: str
    priority: str
    at: datetime
    received_at: datetime
    device_seq: int | None
    data: dict[str, Any]
    region_path: str | None


class CaseOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 12,
                "device": "sn-00a3",
                "gateway": "gw-dongcun-01",
                "alarm_class": "panic",
                "kind": "panic",
                "priority": "alarm",
                "category": "alarm",
                "state": "new",
                "open": True,
                "opened_at": "2026-11-23T08:00:00.301Z",
                "updated_at": "2026-11-23T08:00:00.301Z",
                "closed_at": None,
                "deadline": "2026-11-23T08:01:00.301Z",
                "escalation_level": 0,
                "deadline_status": "green",
                "assignee": None,
                "region_path": "c01/t03/v12/g4",
                "event_count": 1,
                "resolution": None,
                "satisfaction": None,
            }
        }
    )
    id: int
    device: str
    gateway: str | None
    alarm_class: str
    kind: str
    priority: str
    category: str
    state: str
    open: bool
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    deadline: datetime | None
    escalation_level: int
    deadline_status: str
    assignee: str | None
    region_path: str | None
    event_count: int
    resolution: str | None
    satisfaction: int | None


class ActionOut(BaseModel):
    id: int
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    at: datetime
    note: str | None
    data: dict[str, Any] | None


class CaseDetail(CaseOut):
    events: list[EventOut]
    actions: list[ActionOut]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ActionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"action": "accept", "note": "电话已联系老人"},
                {"action": "close", "note": "已上门处置"},
                {"action": "evaluate", "satisfaction": 5},
                {"action": "extend", "seconds": 1800, "note": "等待村医"},
            ]
        }
    )
    action: str = Field(
        description="accept, dispatch, start, reply, verify, return, close, false_alarm, "
        "cancel, transfer, co_handle, extend, supervise, comment, evaluate"
    )
    note: str | None = Field(default=None, max_length=2000)
    satisfaction: int | None = Field(default=None, description="evaluate: 1-5")
    seconds: float | None = Field(default=None, description="extend: seconds added to the deadline")
    assignee: str | None = Field(default=None, description="dispatch, co_handle: who takes it on")
    region: str | None = Field(default=None, description="transfer: target region path")
