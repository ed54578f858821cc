"""company categories: guideline versions, domain, experts, interests, expert sign-off

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("domain", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("guideline_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("expert_usergroup", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("expert_sign_off", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_unique_constraint(batch_op.f("uq_categories_name"), ["name"])
    # The server defaults only fill existing rows; the models set the values from now on.
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.alter_column("guideline_version", server_default=None)
        batch_op.alter_column("expert_sign_off", server_default=None)

    op.create_table(
        "category_guidelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_category_guidelines_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_guidelines")),
        sa.UniqueConstraint(
            "category_id", "version", name=op.f("uq_category_guidelines_category_id_version")
        ),
    )
    op.create_table(
        "category_experts",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("via_usergroup", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_category_experts_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("category_id", "slack_user_id", name=op.f("pk_category_experts")),
    )
    with op.batch_alter_table("category_experts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_category_experts_slack_user_id"), ["slack_user_id"], unique=False
        )
    op.create_table(
        "contributor_interests",
        sa.Column("contributor_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_contributor_interests_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contributor_id"],
            ["contributors.id"],
            name=op.f("fk_contributor_interests_contributor_id_contributors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "contributor_id", "category_id", name=op.f("pk_contributor_interests")
        ),
    )
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guideline_version", sa.Integer(), nullable=True))

    # Today's guideline of every category is its version 1, and every example written by a
    # person or drafted by the model (not imported or transformed) was written under it.
    op.execute(
        "INSERT INTO category_guidelines (category_id, version, text, changed_by, created_at) "
        "SELECT id, 1, guideline, 'migration', created_at FROM categories"
    )
    op.execute("UPDATE examples SET guideline_version = 1 WHERE origin IN ('human', 'llm')")


def downgrade() -> None:
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.drop_column("guideline_version")
    op.drop_table("contributor_interests")
    with op.batch_alter_table("category_experts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_category_experts_slack_user_id"))
    op.drop_table("category_experts")
    op.drop_table("category_guidelines")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_categories_name"), type_="unique")
        batch_op.drop_column("expert_sign_off")
        batch_op.drop_column("expert_usergroup")
        batch_op.drop_column("guideline_version")
        batch_op.drop_column("domain")
