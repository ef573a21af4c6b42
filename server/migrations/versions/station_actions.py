"""station actions: what a station's kiosk asked and what the server answered, by (gateway, id)

Revision ID: station_actions
Revises: user_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "station_actions"
down_revision = "user_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_actions",
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("verb", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("gateway", "id"),
    )
    op.create_index("ix_station_actions_case_id", "station_actions", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_table("station_actions")
