"""alarm panels over SIA DC-09: device AES key and zone names, panel link supervision

Revision ID: alarm_panels
Revises: sign_in_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alarm_panels"
down_revision = "sign_in_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        # AES key of a panel account (hex), write-only through the API.
        batch.add_column(sa.Column("key", sa.String(length=64), nullable=True))
        # Zone or user number -> name, for panels.
        batch.add_column(sa.Column("zones", sa.JSON(), nullable=True))
    op.create_table(
        "panel_links",
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("missing", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("peer", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("device"),
    )
    op.create_index("ix_panel_links_last_seen_at", "panel_links", ["last_seen_at"], unique=False)


def downgrade() -> None:
    op.drop_table("panel_links")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("zones")
        batch.drop_column("key")
