"""category max_field_chars (the longest text a person may submit, enforced in store) and
exports.heartbeat_at (a running export proves it is alive, like job_runs)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("max_field_chars", sa.Integer(), server_default="3000", nullable=False)
        )
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("max_field_chars")
