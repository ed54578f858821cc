"""`INSERT ... ON CONFLICT DO NOTHING`, built once per dialect: a row stored unless its key is
taken, in one statement (no savepoint round trips, no unit of work).

The Slack acks run these on every click and submission; a savepoint around an ORM insert
cost three round trips and a flush for what one statement does, and a taken key leaves the
transaction usable either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


class InsertNew:
    """`INSERT INTO <model's table> ... ON CONFLICT (key) DO NOTHING RETURNING ...` on SQLite
    and PostgreSQL; `run` returns the RETURNING row (the `returning` columns, by default the
    key's first), or None when the key was taken."""

    def __init__(self, model: type[Any], key: Sequence[str], returning: Sequence[str] = ()) -> None:
        table = cast(Table, model.__table__)
        back = [table.c[name] for name in returning or key[:1]]
        self._by_dialect: dict[str, Insert] = {
            name: module.insert(table)
            .on_conflict_do_nothing(index_elements=list(key))
            .returning(*back)
            for name, module in (("postgresql", postgresql), ("sqlite", sqlite))
        }

    def run(self, session: Session, values: Mapping[str, Any]) -> Row[Any] | None:
        """Insert `values` in the session's transaction; None when the key already exists."""
        conn = session.connection()
        return conn.execute(self._by_dialect[conn.dialect.name], dict(values)).first()
