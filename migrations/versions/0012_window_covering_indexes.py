"""covering indexes for the windowed leaderboard (leaderboard since a time)

The leaderboard since a time sums the day counters of the window and the rows of since's own
day (store.counters.top_in_window). With an index on the date alone each row found costs a
lookup in the table (at 1M examples: ~7,700 counter rows scattered over ~3,900 pages for a
week on PostgreSQL, 8 ms on SQLite for the day counters alone); these indexes hold every
column that query reads, so it is one index range each. Each replaces the index on the date
alone, which it serves too (same leading column).

Plain op.drop_index / op.create_index: no batch mode, so SQLite's counter triggers on
`examples` and `reviews` (0009) stay in place.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old index, new index, table, new columns, old columns)
_INDEXES = [
    (
        "ix_contributor_days_day",
        "ix_contributor_days_window",
        "contributor_days",
        ["day", "contributor_id", "written", "approved", "reviews"],
        ["day"],
    ),
    (
        "ix_examples_created_at",
        "ix_examples_created_author_status",
        "examples",
        ["created_at", "author_id", "status"],
        ["created_at"],
    ),
    (
        "ix_reviews_created_at",
        "ix_reviews_created_reviewer",
        "reviews",
        ["created_at", "reviewer_id"],
        ["created_at"],
    ),
]


def upgrade() -> None:
    for old, new, table, columns, _ in _INDEXES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)


def downgrade() -> None:
    for old, new, table, _, columns in _INDEXES:
        op.create_index(old, table, columns)
        op.drop_index(new, table_name=table)
