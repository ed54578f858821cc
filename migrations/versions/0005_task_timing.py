"""task timing: when the write modal opened, when a review item was shown

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows written before this revision have no timing, and the report says so.
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("write_started_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_column("shown_at")
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.drop_column("write_started_at")
