"""sign-in audit: every attempt, who, from where, with what result (append-only)

Revision ID: sign_in_audit
Revises: broker_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sign_in_audit"
down_revision = "broker_accounts"
branch_labels = None
depends_on = None

MESSAGE = "sign_ins is append-only"


def upgrade() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sign_ins_user_id", "sign_ins", ["user_id"], unique=False)
    op.create_index("ix_sign_ins_username_at", "sign_ins", ["username", "at"], unique=False)
    op.create_index("ix_sign_ins_address_at", "sign_ins", ["address", "at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION sw_sign_ins_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '%s'; END $$" % MESSAGE
        )
        op.execute(
            "CREATE TRIGGER sw_sign_ins_append_only BEFORE UPDATE OR DELETE ON sign_ins "
            "FOR EACH ROW EXECUTE FUNCTION sw_sign_ins_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                "CREATE TRIGGER sw_sign_ins_no_%s BEFORE %s ON sign_ins "
                "BEGIN SELECT RAISE(ABORT, '%s'); END" % (verb.lower(), verb, MESSAGE)
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER sw_sign_ins_append_only ON sign_ins")
        op.execute("DROP FUNCTION sw_sign_ins_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute("DROP TRIGGER sw_sign_ins_no_%s" % verb)
    op.drop_table("sign_ins")
