"""user audit: every creation and change of a user, who did it, when and what changed

Revision ID: user_audit
Revises: notify_rules_and_deliveries
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "user_audit"
down_revision = "notify_rules_and_deliveries"
branch_labels = None
depends_on = None

MESSAGE = "user_changes is append-only"


def upgrade() -> None:
    op.create_table(
        "user_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(none_as_null=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_changes_user_id", "user_changes", ["user_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION sw_user_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '%s'; END $$" % MESSAGE
        )
        op.execute(
            "CREATE TRIGGER sw_user_changes_append_only BEFORE UPDATE OR DELETE ON user_changes "
            "FOR EACH ROW EXECUTE FUNCTION sw_user_changes_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                "CREATE TRIGGER sw_user_changes_no_%s BEFORE %s ON user_changes "
                "BEGIN SELECT RAISE(ABORT, '%s'); END" % (verb.lower(), verb, MESSAGE)
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER sw_user_changes_append_only ON user_changes")
        op.execute("DROP FUNCTION sw_user_changes_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute("DROP TRIGGER sw_user_changes_no_%s" % verb)
    op.drop_table("user_changes")
