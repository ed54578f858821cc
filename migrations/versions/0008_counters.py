"""counters kept by triggers; created_at/updated_at indexes

Counts per category/status/origin, per contributor and per contributor and UTC day are kept
by triggers in the same transaction as the change, so every writer keeps them right: the ORM,
bulk inserts, foreign-key cascades and raw SQL alike.

- SQLite runs one writer at a time, so its row triggers update the counters directly.
- PostgreSQL runs writers concurrently. Statement triggers (with transition tables, so a bulk
  insert costs one aggregate) add their deltas to a session temp table, `counter_deltas`,
  and raise a transaction-local flag; a deferred constraint trigger applies them at commit,
  once, in key order. Counter rows are therefore locked only while committing and always in
  the same order: no deadlocks between writers, and a rolled-back savepoint takes its deltas
  with it (temp rows and settings both follow subtransactions). store.counters adds the
  staged deltas when reading, so a transaction sees its own changes.

A later revision that rebuilds `examples` or `reviews` on SQLite (batch mode "move and copy")
drops these triggers: it must create them again (tests/test_counters.py would fail).

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

# -- SQLite ---------------------------------------------------------------------------------
# Increments upsert; decrements only update, so deleting counters before the rows they count
# (as a test's reset does) leaves nothing behind.


def _sqlite_example_plus(row: str) -> list[str]:
    approved, pending = f"({row}.status = 'approved')", f"({row}.status = 'pending')"
    return [
        f"""INSERT INTO category_counts (category_id, status, origin, n)
        SELECT {row}.category_id, {row}.status, {row}.origin, 1 WHERE 1
        ON CONFLICT (category_id, status, origin) DO UPDATE SET n = n + 1""",
        f"""INSERT INTO contributor_counts
            (contributor_id, written, approved, pending, reviews, score)
        SELECT {row}.author_id, 1, {approved}, {pending}, 0, 1 + 3 * {approved}
        WHERE {row}.author_id IS NOT NULL
        ON CONFLICT (contributor_id) DO UPDATE SET written = written + 1,
            approved = approved + excluded.approved, pending = pending + excluded.pending,
            score = score + excluded.score""",
        f"""INSERT INTO contributor_days (contributor_id, day, written, approved, reviews)
        SELECT {row}.author_id, date({row}.created_at), 1, {approved}, 0
        WHERE {row}.author_id IS NOT NULL
        ON CONFLICT (contributor_id, day) DO UPDATE SET written = written + 1,
            approved = approved + excluded.approved""",
    ]


def _sqlite_example_minus(row: str) -> list[str]:
    approved, pending = f"({row}.status = 'approved')", f"({row}.status = 'pending')"
    return [
        f"""UPDATE category_counts SET n = n - 1 WHERE category_id = {row}.category_id
        AND status = {row}.status AND origin = {row}.origin""",  # noqa: S608 - built from constants, no input
        f"""UPDATE contributor_counts SET written = written - 1,
            approved = approved - {approved}, pending = pending - {pending},
            score = score - 1 - 3 * {approved}
        WHERE contributor_id = {row}.author_id""",  # noqa: S608 - built from constants, no input
        f"""UPDATE contributor_days SET written = written - 1, approved = approved - {approved}
        WHERE contributor_id = {row}.author_id AND day = date({row}.created_at)""",  # noqa: S608 - built from constants, no input
    ]


def _sqlite_review_plus(row: str) -> list[str]:
    return [
        f"""INSERT INTO contributor_counts
            (contributor_id, written, approved, pending, reviews, score)
        SELECT {row}.reviewer_id, 0, 0, 0, 1, 1 WHERE 1
        ON CONFLICT (contributor_id) DO UPDATE SET reviews = reviews + 1, score = score + 1""",
        f"""INSERT INTO contributor_days (contributor_id, day, written, approved, reviews)
        SELECT {row}.reviewer_id, date({row}.created_at), 0, 0, 1 WHERE 1
        ON CONFLICT (contributor_id, day) DO UPDATE SET reviews = reviews + 1""",
    ]


def _sqlite_review_minus(row: str) -> list[str]:
    return [
        f"""UPDATE contributor_counts SET reviews = reviews - 1, score = score - 1
        WHERE contributor_id = {row}.reviewer_id""",  # noqa: S608 - built from constants, no input
        f"""UPDATE contributor_days SET reviews = reviews - 1
        WHERE contributor_id = {row}.reviewer_id AND day = date({row}.created_at)""",  # noqa: S608 - built from constants, no input
    ]


_EXAMPLE_KEYS = ("category_id", "status", "origin", "author_id", "created_at")
_REVIEW_KEYS = ("reviewer_id", "created_at")


def _sqlite_trigger(name: str, event: str, table: str, body: list[str], when: str = "") -> str:
    statements = ";\n".join(body)
    return f"CREATE TRIGGER {name} AFTER {event} ON {table} {when} BEGIN\n{statements};\nEND"


def _changed(columns: Sequence[str]) -> str:
    return "WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


SQLITE_TRIGGERS = {
    "counters_examples_insert": _sqlite_trigger(
        "counters_examples_insert", "INSERT", "examples", _sqlite_example_plus("NEW")
    ),
    "counters_examples_delete": _sqlite_trigger(
        "counters_examples_delete", "DELETE", "examples", _sqlite_example_minus("OLD")
    ),
    "counters_examples_update": _sqlite_trigger(
        "counters_examples_update",
        f"UPDATE OF {', '.join(_EXAMPLE_KEYS)}",
        "examples",
        _sqlite_example_minus("OLD") + _sqlite_example_plus("NEW"),
        _changed(_EXAMPLE_KEYS),
    ),
    "counters_reviews_insert": _sqlite_trigger(
        "counters_reviews_insert", "INSERT", "reviews", _sqlite_review_plus("NEW")
    ),
    "counters_reviews_delete": _sqlite_trigger(
        "counters_reviews_delete", "DELETE", "reviews", _sqlite_review_minus("OLD")
    ),
    "counters_reviews_update": _sqlite_trigger(
        "counters_reviews_update",
        f"UPDATE OF {', '.join(_REVIEW_KEYS)}",
        "reviews",
        _sqlite_review_minus("OLD") + _sqlite_review_plus("NEW"),
        _changed(_REVIEW_KEYS),
    ),
}

# -- PostgreSQL -----------------------------------------------------------------------------
# Keys: c|<category 12 digits>|<status>|<origin>, p|<contributor>|<w,a,p,r>,
# d|<contributor>|<YYYY-MM-DD>|<w,a,r>. Sorting them sorts by table, then row.

PG_FUNCTIONS = [
    r"""
CREATE FUNCTION counters_example_keys(
    cat integer, st text, org text, author integer, created timestamptz
) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    SELECT k FROM (VALUES
        ('c|' || lpad(cat::text, 12, '0') || '|' || st || '|' || org),
        (CASE WHEN author IS NOT NULL THEN 'p|' || lpad(author::text, 12, '0') || '|w' END),
        (CASE WHEN author IS NOT NULL AND st = 'approved'
              THEN 'p|' || lpad(author::text, 12, '0') || '|a' END),
        (CASE WHEN author IS NOT NULL AND st = 'pending'
              THEN 'p|' || lpad(author::text, 12, '0') || '|p' END),
        (CASE WHEN author IS NOT NULL THEN 'd|' || lpad(author::text, 12, '0') || '|'
              || to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '|w' END),
        (CASE WHEN author IS NOT NULL AND st = 'approved'
              THEN 'd|' || lpad(author::text, 12, '0') || '|'
              || to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '|a' END)
    ) AS v(k) WHERE k IS NOT NULL
$$
""",
    r"""
CREATE FUNCTION counters_review_keys(reviewer integer, created timestamptz)
RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'p|' || lpad(reviewer::text, 12, '0') || '|r'
    UNION ALL
    SELECT 'd|' || lpad(reviewer::text, 12, '0') || '|'
        || to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '|r'
$$
""",
    r"""
CREATE FUNCTION counters_stage(keys text[], deltas integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF keys IS NULL OR cardinality(keys) = 0 THEN
        RETURN;
    END IF;
    IF coalesce(current_setting('crowdtune.counters_staged', true), '') = '' THEN
        IF to_regclass('pg_temp.counter_deltas') IS NULL THEN
            CREATE TEMP TABLE counter_deltas (k text NOT NULL, n integer NOT NULL)
                ON COMMIT DELETE ROWS;
        END IF;
        PERFORM set_config('crowdtune.counters_staged', '1', true);
    END IF;
    INSERT INTO pg_temp.counter_deltas (k, n) SELECT * FROM unnest(keys, deltas);
END
$$
""",
    r"""
CREATE FUNCTION counters_examples_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
    deltas integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(k), array_agg(n) INTO keys, deltas FROM (
            SELECT k, count(*)::integer AS n FROM (
                SELECT counters_example_keys(category_id, status, origin, author_id, created_at)
                FROM new_rows) AS x(k) GROUP BY k) AS y;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(k), array_agg(n) INTO keys, deltas FROM (
            SELECT k, -count(*)::integer AS n FROM (
                SELECT counters_example_keys(category_id, status, origin, author_id, created_at)
                FROM old_rows) AS x(k) GROUP BY k) AS y;
    ELSE
        SELECT array_agg(k), array_agg(n) INTO keys, deltas FROM (
            SELECT k, sum(s)::integer AS n FROM (
                SELECT counters_example_keys(category_id, status, origin, author_id, created_at),
                    1 FROM new_rows
                UNION ALL
                SELECT counters_example_keys(category_id, status, origin, author_id, created_at),
                    -1 FROM old_rows
            ) AS x(k, s) GROUP BY k HAVING sum(s) <> 0) AS y;
    END IF;
    PERFORM counters_stage(keys, deltas);
    RETURN NULL;
END
$$
""",
    r"""
CREATE FUNCTION counters_reviews_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
    deltas integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(k), array_agg(n) INTO keys, deltas FROM (
            SELECT k, count(*)::integer AS n FROM (
                SELECT counters_review_keys(reviewer_id, created_at) FROM new_rows
            ) AS x(k) GROUP BY k) AS y;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(k), array_agg(n) INTO keys, deltas FROM (
            SELECT k, -count(*)::integer AS n FROM (
                SELECT counters_review_keys(reviewer_id, created_at) FROM old_rows
            ) AS x(k) GROUP BY k) AS y;
    ELSE
        SELECT array_agg(k), array_agg(n) INTO keys, deltas FROM (
            SELECT k, sum(s)::integer AS n FROM (
                SELECT counters_review_keys(reviewer_id, created_at), 1 FROM new_rows
                UNION ALL
                SELECT counters_review_keys(reviewer_id, created_at), -1 FROM old_rows
            ) AS x(k, s) GROUP BY k HAVING sum(s) <> 0) AS y;
    END IF;
    PERFORM counters_stage(keys, deltas);
    RETURN NULL;
END
$$
""",
    r"""
CREATE FUNCTION counters_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    part text[];
    f text;
BEGIN
    IF coalesce(current_setting('crowdtune.counters_staged', true), '') = '' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('crowdtune.counters_staged', '', true);
    FOR r IN SELECT k AS key, sum(n)::integer AS n FROM pg_temp.counter_deltas
             GROUP BY k HAVING sum(n) <> 0 ORDER BY k COLLATE "C" LOOP
        part := string_to_array(r.key, '|');
        IF part[1] = 'c' THEN
            INSERT INTO category_counts (category_id, status, origin, n)
            SELECT part[2]::integer, part[3], part[4], r.n
            WHERE EXISTS (SELECT 1 FROM categories WHERE id = part[2]::integer)
            ON CONFLICT (category_id, status, origin)
            DO UPDATE SET n = category_counts.n + excluded.n;
        ELSIF part[1] = 'p' THEN
            f := part[3];
            INSERT INTO contributor_counts
                (contributor_id, written, approved, pending, reviews, score)
            SELECT part[2]::integer,
                CASE WHEN f = 'w' THEN r.n ELSE 0 END, CASE WHEN f = 'a' THEN r.n ELSE 0 END,
                CASE WHEN f = 'p' THEN r.n ELSE 0 END, CASE WHEN f = 'r' THEN r.n ELSE 0 END,
                CASE WHEN f = 'a' THEN 3 * r.n WHEN f = 'p' THEN 0 ELSE r.n END
            WHERE EXISTS (SELECT 1 FROM contributors WHERE id = part[2]::integer)
            ON CONFLICT (contributor_id) DO UPDATE SET
                written = contributor_counts.written + excluded.written,
                approved = contributor_counts.approved + excluded.approved,
                pending = contributor_counts.pending + excluded.pending,
                reviews = contributor_counts.reviews + excluded.reviews,
                score = contributor_counts.score + excluded.score;
        ELSE
            f := part[4];
            INSERT INTO contributor_days (contributor_id, day, written, approved, reviews)
            SELECT part[2]::integer, part[3]::date,
                CASE WHEN f = 'w' THEN r.n ELSE 0 END, CASE WHEN f = 'a' THEN r.n ELSE 0 END,
                CASE WHEN f = 'r' THEN r.n ELSE 0 END
            WHERE EXISTS (SELECT 1 FROM contributors WHERE id = part[2]::integer)
            ON CONFLICT (contributor_id, day) DO UPDATE SET
                written = contributor_days.written + excluded.written,
                approved = contributor_days.approved + excluded.approved,
                reviews = contributor_days.reviews + excluded.reviews;
        END IF;
    END LOOP;
    DELETE FROM pg_temp.counter_deltas;
    RETURN NULL;
END
$$
""",
]

PG_TRIGGERS = [
    "CREATE TRIGGER counters_examples_insert AFTER INSERT ON examples "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION counters_examples_stage()",
    "CREATE TRIGGER counters_examples_update AFTER UPDATE ON examples "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION counters_examples_stage()",
    "CREATE TRIGGER counters_examples_delete AFTER DELETE ON examples "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION counters_examples_stage()",
    "CREATE TRIGGER counters_reviews_insert AFTER INSERT ON reviews "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION counters_reviews_stage()",
    "CREATE TRIGGER counters_reviews_update AFTER UPDATE ON reviews "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION counters_reviews_stage()",
    "CREATE TRIGGER counters_reviews_delete AFTER DELETE ON reviews "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION counters_reviews_stage()",
    # Queued by every change that can move a count; the first one at commit applies them all.
    "CREATE CONSTRAINT TRIGGER counters_examples_apply AFTER INSERT OR DELETE OR UPDATE OF "
    "category_id, status, origin, author_id, created_at ON examples "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION counters_apply()",
    "CREATE CONSTRAINT TRIGGER counters_reviews_apply AFTER INSERT OR DELETE OR UPDATE OF "
    "reviewer_id, created_at ON reviews "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION counters_apply()",
]
PG_TRIGGER_TABLES = {
    "counters_examples_insert": "examples",
    "counters_examples_update": "examples",
    "counters_examples_delete": "examples",
    "counters_reviews_insert": "reviews",
    "counters_reviews_update": "reviews",
    "counters_reviews_delete": "reviews",
    "counters_examples_apply": "examples",
    "counters_reviews_apply": "reviews",
}
PG_FUNCTION_NAMES = [
    "counters_apply()",
    "counters_reviews_stage()",
    "counters_examples_stage()",
    "counters_stage(text[], integer[])",
    "counters_review_keys(integer, timestamptz)",
    "counters_example_keys(integer, text, text, integer, timestamptz)",
]


def _backfill(day: str) -> list[str]:
    """Count what is already stored (`day` renders a timestamp column as a UTC date)."""
    ex_day, rv_day = day.format(col="e.created_at"), day.format(col="r.created_at")
    return [
        """INSERT INTO category_counts (category_id, status, origin, n)
        SELECT category_id, status, origin, count(*) FROM examples
        GROUP BY category_id, status, origin""",
        """INSERT INTO contributor_counts
            (contributor_id, written, approved, pending, reviews, score)
        SELECT cid, sum(w), sum(a), sum(p), sum(r), sum(w) + 3 * sum(a) + sum(r) FROM (
            SELECT author_id AS cid, 1 AS w,
                CASE WHEN status = 'approved' THEN 1 ELSE 0 END AS a,
                CASE WHEN status = 'pending' THEN 1 ELSE 0 END AS p, 0 AS r
            FROM examples WHERE author_id IS NOT NULL
            UNION ALL
            SELECT reviewer_id, 0, 0, 0, 1 FROM reviews
        ) AS x GROUP BY cid""",
        f"""INSERT INTO contributor_days (contributor_id, day, written, approved, reviews)
        SELECT cid, d, sum(w), sum(a), sum(r) FROM (
            SELECT e.author_id AS cid, {ex_day} AS d, 1 AS w,
                CASE WHEN e.status = 'approved' THEN 1 ELSE 0 END AS a, 0 AS r
            FROM examples e WHERE e.author_id IS NOT NULL
            UNION ALL
            SELECT r.reviewer_id, {rv_day}, 0, 0, 1 FROM reviews r
        ) AS x GROUP BY cid, d""",  # noqa: S608 - built from constants, no input
    ]


def upgrade() -> None:
    op.create_index("ix_examples_created_at", "examples", ["created_at"])
    op.create_index("ix_examples_updated_at", "examples", ["updated_at"])
    op.create_index("ix_reviews_created_at", "reviews", ["created_at"])
    op.create_table(
        "category_counts",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_category_counts_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("category_id", "status", "origin", name=op.f("pk_category_counts")),
    )
    op.create_table(
        "contributor_counts",
        sa.Column("contributor_id", sa.Integer(), nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contributor_id"],
            ["contributors.id"],
            name=op.f("fk_contributor_counts_contributor_id_contributors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contributor_id", name=op.f("pk_contributor_counts")),
    )
    op.create_index("ix_contributor_counts_score", "contributor_counts", ["score"])
    op.create_table(
        "contributor_days",
        sa.Column("contributor_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contributor_id"],
            ["contributors.id"],
            name=op.f("fk_contributor_days_contributor_id_contributors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contributor_id", "day", name=op.f("pk_contributor_days")),
    )
    op.create_index("ix_contributor_days_day", "contributor_days", ["day"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in _backfill("({col} AT TIME ZONE 'UTC')::date"):
            op.execute(statement)
        for statement in PG_FUNCTIONS + PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _backfill("date({col})"):
            op.execute(statement)
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in PG_TRIGGER_TABLES.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for signature in PG_FUNCTION_NAMES:
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_contributor_days_day", table_name="contributor_days")
    op.drop_table("contributor_days")
    op.drop_index("ix_contributor_counts_score", table_name="contributor_counts")
    op.drop_table("contributor_counts")
    op.drop_table("category_counts")
    op.drop_index("ix_reviews_created_at", table_name="reviews")
    op.drop_index("ix_examples_updated_at", table_name="examples")
    op.drop_index("ix_examples_created_at", table_name="examples")
