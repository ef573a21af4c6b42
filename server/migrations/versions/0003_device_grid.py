"""grid found from the device's own location

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_devices_grid_id_regions", "regions", ["grid_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint("fk_devices_grid_id_regions", type_="foreignkey")
        batch.drop_column("grid_id")
