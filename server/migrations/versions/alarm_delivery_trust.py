"""alarm delivery trust: dead letters, reused event ids, quarantine, the outbox

Revision ID: alarm_delivery_trust
Revises: station_actions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alarm_delivery_trust"
down_revision = "station_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("sent_id", sa.String(length=80), nullable=True))
    op.create_index("ix_events_gateway_seq", "events", ["gateway", "seq"], unique=False)
    op.create_index(
        "ix_events_sent_id",
        "events",
        ["sent_id"],
        unique=False,
        sqlite_where=sa.text("sent_id IS NOT NULL"),
        postgresql_where=sa.text("sent_id IS NOT NULL"),
    )
    with op.batch_alter_table("gateways") as batch:
        batch.add_column(sa.Column("reused_seqs", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("reused_seq_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=True),
        sa.Column("topic", sa.String(length=400), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=400), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region_path", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_dead_letters_gateway", "dead_letters", ["gateway"], unique=False)
    op.create_index("ix_dead_letters_region_path", "dead_letters", ["region_path"], unique=False)


    op.create_table(
        "quarantined_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("device_gateway", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_seq", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("region_path", sa.String(length=400), nullable=True),
        sa.Column("gateway_region_path", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "digest", name="uq_quarantined_events_event_digest"),
    )
    for column in ("gateway", "device", "received_at", "region_path", "gateway_region_path"):
        op.create_index("ix_quarantined_events_%s" % column, "quarantined_events", [column], unique=False)


    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=400), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"], unique=False)
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["due_at"],
        unique=False,
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("quarantined_events")
    op.drop_table("dead_letters")
    with op.batch_alter_table("gateways") as batch:
        batch.drop_column("reused_seq_at")
        batch.drop_column("reused_seqs")
    op.drop_index("ix_events_sent_id", table_name="events")
    op.drop_index("ix_events_gateway_seq", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("sent_id")
