"""Tables. The schema itself is owned by the Alembic migrations in server/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from server.safe_json import scrub


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on both databases (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SafeJSON(TypeDecorator[Any]):
    """JSON that always reads back as something every JSON writer takes (``safe_json.scrub``):
    a value stored before ingest refused it, or sent by a gateway, never breaks a reader."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return scrub(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return scrub(value)


class Base(DeclarativeBase):
    pass


LEVELS = ("county", "township", "village", "grid")


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    # Materialised path of codes ("c01/t03/v12/g4"): subtree scoping is a prefix match.
    path: Mapped[str] = mapped_column(String(400), unique=True)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Station(Base):
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(400))


class Gateway(Base):
    __tablename__ = "gateways"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True)
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_data: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON)
    # Events it sent under ids the server already held with other content (a reinstall).
    reused_seqs: Mapped[int] = mapped_column(Integer, server_default="0")
    reused_seq_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("gateways.id"), index=True)
    model: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    # Explicit region wins over the one derived from the station or the location.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    # The grid holding the device's own location (point in polygon), kept when it is saved.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(400))
    holder_contact: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Alarm panels (sia-<account>): AES key in hex (write-only), zone or user number -> name.
    key: Mapped[str | None] = mapped_column(String(64))
    zones: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))


class PanelLink(Base):
    """When an alarm panel (SIA DC-09) was last heard, for its supervision."""

    __tablename__ = "panel_links"
    device_id: Mapped[str] = mapped_column("device", String(64), primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    missing: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    peer: Mapped[str | None] = mapped_column(String(64))


class EventRow(Base):
    __tablename__ = "events"
    # "<gateway>:<seq>", unique by contract: the idempotency key of ingest.
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    gateway_id: Mapped[str] = mapped_column("gateway", String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    # Plain strings, not foreign keys: an alarm from an unknown device is stored all the same.
    device_id: Mapped[str] = mapped_column("device", String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    device_seq: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(SafeJSON)
    region_path: Mapped[str | None] = mapped_column(String(400), index=True)
    # The id the gateway sent it under, when that id already held another event (a gateway
    # reinstalled with an empty outbox): the event is stored under a fresh seq instead.
    sent_id: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        Index("ix_events_gateway_seq", "gateway", "seq"),
        Index(
            "ix_events_sent_id",
            "sent_id",
            sqlite_where=text("sent_id IS NOT NULL"),
            postgresql_where=text("sent_id IS NOT NULL"),
        ),
    )


OPEN_CASE_INDEX = "uq_cases_open_device_class"


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column("device", String(64))
    gateway_id: Mapped[str | None] = mapped_column("gateway", String(32))
    alarm_class: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16), server_default="alarm")
    state: Mapped[str] = mapped_column(String(16), index=True)
    is_open: Mapped[bool] = mapped_column(Boolean)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, server_default="0")
    # green until 80 % of the step's time, yellow until the deadline, red after it.
    deadline_status: Mapped[str] = mapped_column(String(8), server_default="green")
    assignee: Mapped[str | None] = mapped_column(String(64))
    # When the deadline watcher next has something to do for this case (yellow, red, re-notify).
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    region_path: Mapped[str | None] = mapped_column(String(400), index=True)
    event_count: Mapped[int] = mapped_column(Integer, server_default="0")
    last_event_id: Mapped[str | None] = mapped_column(String(80))
    resolution: Mapped[str | None] = mapped_column(String(32))
    satisfaction: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        # One open case per (device, alarm class): the database decides, not a read-then-write.
        Index(
            OPEN_CASE_INDEX,
            "device",
            "alarm_class",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )


class CaseEvent(Base):
    __tablename__ = "case_events"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), primary_key=True, index=True)


class CaseAction(Base):
    """Append-only audit of everything done to a case."""

    __tablename__ = "case_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON)


class CommandRow(Base):
    """A command sent to a gateway, and what the gateway answered."""

    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gateway_id: Mapped[str] = mapped_column("gateway", String(32), index=True)
    op: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    result: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON)
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StationActionRow(Base):
    """A station action (kiosk) the server answered, by (gateway, action id): a resend is
    answered from here, never applied twice."""

    __tablename__ = "station_actions"
    gateway_id: Mapped[str] = mapped_column("gateway", String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    verb: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # when staff acted, at the station
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class OutboxMessage(Base):
    """A message to send, written in the same transaction as the change it tells of
    (transactional outbox): a crash after the commit never loses it.

    ``channel`` says how it leaves (``duty_alert``: MQTT on the duty topic of the region path in
    ``target``); a notification channel adds rows of its own kind (``target`` an apprise URL).
    Rows are marked ``sent_at`` only when the transport confirmed them (MQTT PUBACK), and kept a
    while after for people to check.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(400))
    payload: Mapped[str] = mapped_column(Text)  # exactly what is sent, UTF-8 JSON text
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Not before then: the writer publishes at once and holds it until then; after that any
    # instance may claim it (and holds it again for a lease).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    owner: Mapped[str | None] = mapped_column(String(64))  # the instance that last claimed it
    last_error: Mapped[str | None] = mapped_column(String(400))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        Index(
            "ix_outbox_unsent",
            "due_at",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )


class QuarantinedEvent(Base):
    """An event a gateway sent for a device registered to another gateway: kept and counted,
    shown to admins, never turned into a case (one gateway cannot speak for another)."""

    __tablename__ = "quarantined_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80))  # as sent: "<gateway>:<seq>"
    gateway_id: Mapped[str] = mapped_column("gateway", String(32), index=True)  # who sent it
    device_id: Mapped[str] = mapped_column("device", String(64), index=True)
    device_gateway_id: Mapped[str] = mapped_column("device_gateway", String(32))  # who owns the device
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    device_seq: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(SafeJSON)
    # sha256 of the content: a resend is kept once, a reused id with new content again.
    digest: Mapped[str] = mapped_column(String(64))
    region_path: Mapped[str | None] = mapped_column(String(400), index=True)  # the device's
    gateway_region_path: Mapped[str | None] = mapped_column(String(400), index=True)  # the sender's

    __table_args__ = (UniqueConstraint("event_id", "digest", name="uq_quarantined_events_event_digest"),)


class DeadLetter(Base):
    """A message refused whole because nothing in it can be read (not UTF-8, not JSON, too
    deep, too large, not a batch). Never acked; kept for people to look at, once per distinct
    payload, with how often it came."""

    __tablename__ = "dead_letters"
    KEEP_BYTES: ClassVar[int] = 64 * 1024  # what is kept of a payload; ``size`` tells the rest

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway_id: Mapped[str | None] = mapped_column("gateway", String(32), index=True)
    topic: Mapped[str] = mapped_column(String(400))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(400))
    size: Mapped[int] = mapped_column(Integer)
    # sha256 of topic and whole payload: the same message again only counts.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The sending gateway's region when it arrived: who may see it.
    region_path: Mapped[str | None] = mapped_column(String(400), index=True)


ROLES = ("admin", "duty_officer", "grid_worker", "station_staff", "viewer")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32))
    # None: the whole tree (root); otherwise the user sees this region's subtree only.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserChange(Base):
    """Append-only audit of every creation and change of a user; never the password itself."""

    __tablename__ = "user_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Who did it: a user (None for the system: the first admin and seed files).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # create | change
    # {"role": {"from": ..., "to": ...}, "region": ..., "active": ..., "password": "set"|"changed"}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON(none_as_null=True))


def utcnow() -> datetime:
    return datetime.now(UTC)


class BrokerAccount(Base):
    """A broker login that is not a gateway: a server instance or a duty room (read-only).

    The password itself is shown once when issued; only its hash is kept, in Mosquitto's
    format, so the password file can be written at any time.
    """

    __tablename__ = "broker_accounts"
    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "server" or "duty"
    # Duty rooms: the region whose subtree's alerts they read (None: the whole tree).
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(64))



class SignIn(Base):
    """Append-only audit of every sign-in attempt, and the memory of sign-in throttling."""

    __tablename__ = "sign_ins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The name as typed (cut to 64 characters), and the user it names, if any.
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    # ok, bad_password, unknown_user, disabled, throttled
    result: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_sign_ins_username_at", "username", "at"),
        Index("ix_sign_ins_address_at", "address", "at"),
    )
