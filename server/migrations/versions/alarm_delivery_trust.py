"""alarm delivery trust: dead letters

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


def downgrade() -> None:
    op.drop_table("dead_letters")
