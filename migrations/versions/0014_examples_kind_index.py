"""examples kind index: counting conversations reads only the conversations

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # op.create_index, not a batch rebuild: on SQLite a rebuild of examples would drop the
    # counter triggers of 0009. Stats, App Home and the report count conversations per
    # status and category; with this index they read the conversations' index entries only.
    op.create_index(
        "ix_examples_kind_status_category", "examples", ["kind", "status", "category_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_examples_kind_status_category", table_name="examples")
