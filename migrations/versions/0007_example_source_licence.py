"""example source name and licence

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("licence", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.drop_column("licence")
        batch_op.drop_column("source_name")
