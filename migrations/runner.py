"""Alembic driven from code: the CLI, the release step and the tests need no alembic.ini."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from store.db import normalize_url
from store.errors import DomainError

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic Config pointing at this package's revisions and at `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    # ConfigParser interpolation treats % specially; URL-encoded passwords contain it.
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, engine: Engine | None = None) -> None:
    """Apply migrations up to `revision` (on `engine`'s connection when one is given)."""
    _migrate(command.upgrade, url, revision, engine)


def downgrade(url: str, revision: str = "base", *, engine: Engine | None = None) -> None:
    """Revert migrations down to `revision`."""
    _migrate(command.downgrade, url, revision, engine)


def _migrate(
    step: Callable[[Config, str], None], url: str, revision: str, engine: Engine | None
) -> None:
    """Run an Alembic upgrade or downgrade; a revision it cannot use is a DomainError."""
    cfg = alembic_config(url)
    try:
        if engine is None:
            step(cfg, revision)
            return
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)
    except CommandError as exc:  # e.g. "Can't locate revision identified by 'x'"
        known = revisions_between(url, None, "head")
        raise DomainError(
            f"cannot migrate to {revision!r}: {exc}; the revisions are "
            f"{known[0]} … {known[-1]}, 'head' and 'base' ('crowdtune db current' says "
            "where the database is)"
        ) from exc


def revision(url: str, message: str, *, autogenerate: bool = True) -> bool:
    """Write a new revision file comparing the models with the database at `url`.

    With autogenerate and no difference between the models and the database, nothing is
    written and the result is False."""
    written = True

    def skip_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
        nonlocal written
        if autogenerate and directives and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            written = False

    command.revision(
        alembic_config(url),
        message=message,
        autogenerate=autogenerate,
        process_revision_directives=skip_empty,
    )
    return written


def current(url: str) -> None:
    """Print the revision the database at `url` is at."""
    command.current(alembic_config(url))


def revision_of(engine: Engine) -> str | None:
    """The revision the database behind `engine` is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revisions_between(url: str, lower: str | None, upper: str | None) -> list[str]:
    """The revisions after `lower` up to and including `upper`, oldest first (what an
    upgrade from `lower` to `upper` applies, or a downgrade the other way reverts)."""
    if upper is None or upper == lower:
        return []
    script = ScriptDirectory.from_config(alembic_config(url))
    steps = script.iterate_revisions(upper, lower or "base")
    return [r.revision for r in steps if r.revision != lower][::-1]
