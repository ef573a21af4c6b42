"""case_actions is append-only, enforced by the database

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MESSAGE = "case_actions is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION sw_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '%s'; END $$" % MESSAGE
        )
        op.execute(
            "CREATE TRIGGER sw_case_actions_append_only BEFORE UPDATE OR DELETE ON case_actions "
            "FOR EACH ROW EXECUTE FUNCTION sw_audit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                "CREATE TRIGGER sw_case_actions_no_%s BEFORE %s ON case_actions "
                "BEGIN SELECT RAISE(ABORT, '%s'); END" % (verb.lower(), verb, MESSAGE)
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER sw_case_actions_append_only ON case_actions")
        op.execute("DROP FUNCTION sw_audit_append_only()")
    else:
        op.execute("DROP TRIGGER sw_case_actions_no_update")
        op.execute("DROP TRIGGER sw_case_actions_no_delete")
