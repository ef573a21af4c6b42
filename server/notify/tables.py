"""The notification tables (schema owned by the migration ``notify_rules_and_deliveries``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, UTCDateTime


class NotifyRule(Base):
    """Who is told about cases of one region subtree: a target URL, for which alarm classes,
    from which escalation level, with quiet hours (never for panic, medical or fire)."""

    __tablename__ = "notify_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # None: the whole tree (only a root admin may make such a rule).
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    target: Mapped[str] = mapped_column(Text)  # apprise URL, or sms://NUMBER[,NUMBER] for our modem
    classes: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))  # None: every class
    min_level: Mapped[int] = mapped_column(Integer, server_default="0")
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" local time
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), server_default="Asia/Shanghai")
    language: Mapped[str] = mapped_column(String(8), server_default="zh")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One notification to one target, written in the transaction of the case change it tells
    of, and sent from here until the target takes it (the notification outbox)."""

    __tablename__ = "notify_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("notify_rules.id", ondelete="SET NULL"))
    # Which target this is, for failure counting: "rule:<id>" or "env:<n>" (SHOUWANG_NOTIFY).
    target_key: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(32))  # case_opened | case_escalated
    level: Mapped[int] = mapped_column(Integer, server_default="0")
    # The case state when written: a repeat for an unaccepted case is cancelled by accepting it.
    case_state: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # pending | sent | cancelled
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(400))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (
        Index(
            "ix_notify_deliveries_pending",
            "due_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )
