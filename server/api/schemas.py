"""Request and response bodies of the REST API (they shape /openapi.json).

Response models are built from database rows (``from_attributes``): an ORM object, or a row of
a ``*_view`` query from ``server.data`` whose columns carry the model's field names. Where an ORM
attribute is named differently from the field (``gateway_id`` for ``gateway``), the field reads
it through ``column()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.api.bounds import (
    Action,
    Address,
    Assignee,
    DeviceId,
    GatewayId,
    HolderContact,
    Latitude,
    Longitude,
    ModelName,
    Name,
    Note,
    PanelKey,
    PanelZones,
    Password,
    RegionPath,
    StationCode,
)


def column(attribute: str) -> Any:
    """A field read from the ORM attribute ``attribute`` (models using it also validate by name)."""
    return Field(validation_alias=attribute)


class Token(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "access_token": "eyJ1aWQiOjIsInN1YiI6ImR1dHktdDAzIn0.c2ln",
                "token_type": "bearer",
                "expires_in": 43200,
            }
        }
    )
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "detail": "cannot accept a case that is accepted (allowed when new)",
                "reason": "illegal_transition",
            }
        }
    )
    detail: str
    reason: str


class EventOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        validate_by_name=True,
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
        },
    )
    id: str
    gateway: str = column("gateway_id")
    seq: int
    device: str = column("device_id")
    kind: str
    priority: str
    at: datetime
    received_at: datetime
    device_seq: int | None
    data: dict[str, Any]
    region_path: str | None


class CaseOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        validate_by_name=True,
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
        },
    )
    id: int
    device: str = column("device_id")
    gateway: str | None = column("gateway_id")
    alarm_class: str
    kind: str
    priority: str
    category: str
    state: str
    open: bool = column("is_open")
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
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": 7,
                "action": "accept",
                "from_state": "new",
                "to_state": "accepted",
                "actor": "duty-t03",
                "at": "2026-11-23T08:00:20.301Z",
                "note": "电话已联系",
                "data": None,
            }
        },
    )
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
    action: Action = Field(
        description="accept, dispatch, start, reply, verify, return, close, false_alarm, "
        "cancel, transfer, co_handle, extend, supervise, comment, evaluate"
    )
    note: Note | None = None
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="evaluate: 1-5")
    seconds: float | None = Field(
        default=None,
        gt=0,
        le=30 * 86400,
        description="extend: seconds added to the deadline (at most 30 days)",
    )
    assignee: Assignee | None = Field(default=None, description="dispatch, co_handle: who takes it on")
    region: RegionPath | None = Field(default=None, description="transfer: target region path")


class RegionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "path": "c01/t03/v12/g4",
                "name": "第四网格",
                "level": "grid",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[108.0, 34.0], [109.0, 34.0], [109.0, 35.0], [108.0, 34.0]]],
                },
            }
        }
    )
    path: RegionPath
    name: Name
    level: Literal["county", "township", "village", "grid"] | None = None
    geometry: dict[str, Any] | None = None


class RegionOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": 4,
                "path": "c01/t03/v12/g4",
                "code": "g4",
                "name": "第四网格",
                "level": "grid",
                "parent": "c01/t03/v12",
                "geometry": None,
            }
        },
    )
    id: int
    path: str
    code: str
    name: str
    level: str
    parent: str | None
    geometry: dict[str, Any] | None


class StationIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "东村服务站",
                "region": None,
                "lat": 34.1,
                "lon": 108.9,
                "address": "东村 1 号",
            }
        }
    )
    name: Name | None = None
    region: RegionPath | None = Field(
        default=None, description="explicit region path; else found from lat/lon"
    )
    lat: Latitude | None = None
    lon: Longitude | None = None
    address: Address | None = None


class StationOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "code": "st-dongcun",
                "name": "东村服务站",
                "region": "c01/t03/v12/g4",
                "lat": 34.1,
                "lon": 108.9,
                "address": "东村 1 号",
            }
        },
    )
    code: str
    name: str
    region: str | None
    lat: float | None
    lon: float | None
    address: str | None


class GatewayIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"station": "st-dongcun"}})
    station: StationCode | None = None


class GatewayOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "gw-dongcun-01",
                "station": "st-dongcun",
                "status": "online",
                "status_at": "2026-11-23T07:00:00.000Z",
                "has_credentials": True,
                "reused_seqs": 0,
                "reused_seq_at": None,
            }
        },
    )
    id: str
    station: str | None
    status: str | None
    status_at: datetime | None
    has_credentials: bool
    reused_seqs: int = Field(
        0, description="events sent under ids the server already held (a reinstall); stored anew"
    )
    reused_seq_at: datetime | None = None


class Credentials(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "username": "gw-dongcun-01",
                "password": "shown once",
                "topic_prefix": "sw/v1/gw/gw-dongcun-01",
            }
        }
    )
    username: str
    password: str
    topic_prefix: str


class DeviceIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "gateway": "gw-dongcun-01",
                "model": "sw-panic-button",
                "name": "王奶奶家 呼叫按钮",
                "region": None,
                "lat": 34.12,
                "lon": 108.91,
                "address": "东村 3 组 12 号",
                "holder_contact": {"name": "王小明", "phone": "138-0000-0000", "relation": "儿子"},
            }
        }
    )
    gateway: GatewayId | None = None
    model: ModelName | None = None
    name: Name | None = None
    region: RegionPath | None = Field(
        default=None, description="explicit region override (path); null removes it"
    )
    lat: Latitude | None = None
    lon: Longitude | None = None
    address: Address | None = None
    holder_contact: HolderContact | None = Field(
        default=None, description="the holder's emergency contact: up to 10 short text fields"
    )
    key: PanelKey | None = Field(
        default=None,
        description="alarm panels (sia-...): AES key, 32/48/64 hex digits; write-only, null removes it",
    )
    zones: PanelZones | None = Field(
        default=None, description="alarm panels: zone or user number -> name shown with its events"
    )


class DeviceOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "sn-00a3",
                "gateway": "gw-dongcun-01",
                "model": "sw-panic-button",
                "name": "王奶奶家 呼叫按钮",
                "region": "c01/t03/v12/g4",
                "region_override": None,
                "lat": 34.12,
                "lon": 108.91,
                "address": "东村 3 组 12 号",
                "holder_contact": None,
            }
        },
    )
    id: str
    gateway: str | None
    model: str | None
    name: str | None
    region: str | None = Field(
        description="effective region: override, else grid of its location, else station's"
    )
    region_override: str | None
    lat: float | None
    lon: float | None
    address: str | None
    holder_contact: dict[str, Any] | None = Field(
        default=None, description="only for admin, duty_officer, station_staff; every read is logged"
    )
    key_set: bool = Field(default=False, description="alarm panels: an AES key is stored (never shown)")
    zones: dict[str, str] | None = None


Role = Literal["admin", "duty_officer", "grid_worker", "station_staff", "viewer"]


class UserIn(BaseModel):
    """A new user; the name must not exist yet (409 otherwise)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "username": "duty-t03",
                "password": "a long passphrase",
                "role": "duty_officer",
                "region": "c01/t03",
            }
        }
    )
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{2,64}$")
    password: Password
    role: Role
    region: RegionPath | None = Field(
        default=None, description="region path; null for the whole tree (admins of the whole tree only)"
    )


class UserPatch(BaseModel):
    """A change to a user: only the fields present change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"password": "another long passphrase"},
                {"role": "viewer", "region": "c01/t03/v12"},
                {"active": False},
            ]
        },
    )
    password: Password | None = None
    role: Role | None = None
    region: RegionPath | None = Field(
        default=None, description="region path; null for the whole tree (admins of the whole tree only)"
    )
    active: bool | None = None

    @field_validator("password", "role", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out means unchanged; only the region has a meaning for null (the whole tree).
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": 3,
                "username": "duty-t03",
                "role": "duty_officer",
                "region": "c01/t03",
                "active": True,
            }
        },
    )
    id: int
    username: str
    role: str
    region: str | None
    active: bool


class UserChangeOut(BaseModel):
    """One entry of a user's audit trail; a password shows only as set or changed."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "at": "2026-11-23T08:00:00.000Z",
                "actor": "admin-t03",
                "action": "change",
                "changes": {"role": {"from": "viewer", "to": "duty_officer"}, "password": "changed"},
            }
        },
    )
    at: datetime
    actor: str
    action: Literal["create", "change"]
    changes: dict[str, Any]


class Timing(BaseModel):
    median: float | None
    p90: float | None


class AcceptTiming(Timing):
    within_60s: float | None = Field(description="share of alarm cases accepted within 60 s")


class DeviceHealth(BaseModel):
    """Now, not over the period: devices and their open maintenance cases as they are."""

    devices: int
    missing: int = Field(description="devices with an open device-missing case")
    low_battery: int = Field(description="devices with an open low-battery case")
    tamper: int = Field(description="devices with an open tamper case")
    unsupervised: int = Field(
        description="devices whose model has no heartbeat supervision (or is not in the catalog)"
    )
    open_maintenance_cases: int
    gateways_offline: int


class RegionKpis(BaseModel):
    region: str | None
    name: str | None
    level: str | None
    alarms: int
    cases: int
    maintenance_cases: int
    false_alarm_rate: float | None
    time_to_accept_s: AcceptTiming
    time_to_close_s: Timing
    closure_rate: float | None
    on_time_rate: float | None
    rework_rate: float | None
    extension_rate: float | None
    satisfaction: float | None
    device_health: DeviceHealth


class SeriesPoint(BaseModel):
    start: datetime
    alarms: int
    cases: int
    maintenance_cases: int


class Series(BaseModel):
    bucket: Literal["hour", "day", "week"] = Field(
        description="hours up to 48 h, days up to 93 days, weeks beyond; days and weeks start at the "
        "wall-clock time of `since` in `tz`"
    )
    points: list[SeriesPoint]


_KPIS_EXAMPLE: dict[str, Any] = {
    "alarms": 41,
    "cases": 37,
    "maintenance_cases": 6,
    "false_alarm_rate": 0.1622,
    "time_to_accept_s": {"median": 24.0, "p90": 71.0, "within_60s": 0.8378},
    "time_to_close_s": {"median": 1320.0, "p90": 5400.0},
    "closure_rate": 0.973,
    "on_time_rate": 0.8611,
    "rework_rate": 0.027,
    "extension_rate": 0.0541,
    "satisfaction": 4.6,
    "device_health": {
        "devices": 120,
        "missing": 1,
        "low_battery": 3,
        "tamper": 0,
        "unsupervised": 14,
        "open_maintenance_cases": 2,
        "gateways_offline": 0,
    },
}


class StatsOut(RegionKpis):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "since": "2026-11-01T00:00:00Z",
                "until": "2026-12-01T00:00:00Z",
                "region": "c01/t03",
                "name": "河镇",
                "level": "township",
                **_KPIS_EXAMPLE,
                "series": {
                    "bucket": "day",
                    "points": [
                        {"start": "2026-11-01T00:00:00Z", "alarms": 2, "cases": 2, "maintenance_cases": 0}
                    ],
                },
                "children": [{"region": "c01/t03/v12", "name": "东村", "level": "village", **_KPIS_EXAMPLE}],
            }
        }
    )
    since: datetime
    until: datetime
    series: Series
    children: list[RegionKpis] = Field(description="one row per direct child region, to compare siblings")


class CommandIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"op": "siren", "device": "gateway", "on": True},
                {"op": "identify", "device": "sn-00a3"},
            ]
        }
    )
    op: Literal["siren", "relay", "identify", "ping", "status", "start_pairing", "reload_config"]
    device: DeviceId = Field(
        default="gateway", description="'gateway' for the station's own outputs, or a device id"
    )
    on: bool | None = None
    seconds: int | None = Field(default=None, ge=1, le=3600, description="start_pairing: how long to listen")


class CommandOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        validate_by_name=True,
        json_schema_extra={
            "example": {
                "id": "3f0c1b9e-8e44-4a53-9d0e-0b7f5a1c2d3e",
                "gateway": "gw-dongcun-01",
                "op": "siren",
                "payload": {
                    "device": "gateway",
                    "on": True,
                    "id": "3f0c1b9e-8e44-4a53-9d0e-0b7f5a1c2d3e",
                    "op": "siren",
                },
                "case_id": None,
                "sent_by": "duty-t03",
                "sent_at": "2026-11-23T08:02:00.000Z",
                "ok": True,
                "result": {"device": "gateway", "siren": True},
                "result_at": "2026-11-23T08:02:00.410Z",
            }
        },
    )
    id: str
    gateway: str = column("gateway_id")
    op: str
    payload: dict[str, Any]
    case_id: int | None
    sent_by: str
    sent_at: datetime
    ok: bool | None
    result: dict[str, Any] | None
    result_at: datetime | None
