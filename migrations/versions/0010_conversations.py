"""conversations and captures: example kind, turns, Slack provenance, consent

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch rebuild: on SQLite a rebuild of examples would drop the
    # counter triggers of 0009.
    op.add_column(
        "examples",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="pair"),
    )
    op.add_column("example_revisions", sa.Column("turns", sa.JSON(), nullable=True))
    op.create_table(
        "example_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("source_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["example_id"],
            ["examples.id"],
            name=op.f("fk_example_turns_example_id_examples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example_turns")),
        sa.UniqueConstraint(
            "example_id", "position", name=op.f("uq_example_turns_example_id_position")
        ),
    )
    op.create_table(
        "captures",
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("permalink", sa.String(length=1024), nullable=True),
        sa.Column("captured_by_id", sa.Integer(), nullable=True),
        sa.Column("anonymised", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["captured_by_id"],
            ["contributors.id"],
            name=op.f("fk_captures_captured_by_id_contributors"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["example_id"],
            ["examples.id"],
            name=op.f("fk_captures_example_id_examples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("example_id", name=op.f("pk_captures")),
    )
    op.create_index("ix_captures_channel_message", "captures", ["channel_id", "message_ts"])
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quoted_text", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dm_channel", sa.String(length=32), nullable=True),
        sa.Column("dm_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["example_id"],
            ["examples.id"],
            name=op.f("fk_consents_example_id_examples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint(
            "example_id", "slack_user_id", name=op.f("uq_consents_example_id_slack_user_id")
        ),
    )
    op.create_index(op.f("ix_consents_example_id"), "consents", ["example_id"])
    op.create_index("ix_consents_status_asked", "consents", ["status", "asked_at"])


def downgrade() -> None:
    op.drop_index("ix_consents_status_asked", table_name="consents")
    op.drop_index(op.f("ix_consents_example_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_index("ix_captures_channel_message", table_name="captures")
    op.drop_table("captures")
    op.drop_table("example_turns")
    op.drop_column("example_revisions", "turns")
    # SQLite cannot drop a column without a rebuild of examples, which would drop the counter
    # triggers; DROP COLUMN works on SQLite >= 3.35 for a column with no index or constraint.
    op.drop_column("examples", "kind")
