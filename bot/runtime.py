"""What a running process holds: settings, the engine and the session factory, built once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from store.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS,
    make_engine,
    make_session_factory,
    session_scope,
)
from store.reviews import Quorum

if TYPE_CHECKING:
    # The quality checks (rapidfuzz, phonenumbers…) load when first used, not at every start.
    from store.quality.dedup import DedupIndex
    from store.quality.gate import CorpusQualityGate

log = logging.getLogger("crowdtune")


@dataclass
class Runtime:
    """Lazily built process resources; the entrypoint creates one and passes it down."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)
    # A process answering people (the Slack app) waits less for SQLite's lock than a job.
    interactive: bool = False
    # How many of this process's threads may hold a connection at once (the Slack app: its
    # request threads, follow-up threads and health check); the pool keeps that many open.
    # None: SQLAlchemy's default (5 kept, 10 more opened and closed as needed).
    connections: int | None = None

    def _pool(self) -> dict[str, Any]:
        # A connection past the kept ones is closed on its return: under load, that was five
        # new PostgreSQL sessions a second (a backend started, its caches and the counter
        # triggers' temp table built again, ~50 ms each on the bench machine).
        return {} if self.connections is None else {"pool_size": self.connections}

    @cached_property
    def engine(self) -> Engine:
        """The database engine for DATABASE_URL."""
        busy = SQLITE_INTERACTIVE_BUSY_TIMEOUT_MS if self.interactive else SQLITE_BUSY_TIMEOUT_MS
        return self._engine or make_engine(
            self.settings.database_url, busy_timeout_ms=busy, **self._pool()
        )

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory every listener, job and command uses."""
        return make_session_factory(self.engine)

    @cached_property
    def read_engine(self) -> Engine:
        """On SQLite, an engine whose transactions begin DEFERRED: with WAL, reads run beside
        the one writer instead of queueing for the file. Elsewhere the engine itself."""
        if self.engine.dialect.name != "sqlite":
            return self.engine
        url = self.engine.url.render_as_string(hide_password=False)
        return make_engine(url, sqlite_begin="DEFERRED", **self._pool())

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions for transactions that only read (the replies after acks)."""
        if self.read_engine is self.engine:
            return self.sessions
        return make_session_factory(self.read_engine)

    @property
    def quorum(self) -> Quorum:
        """The review quorum from settings."""
        return Quorum(self.settings.quorum_approvals, self.settings.quorum_rejections)

    @cached_property
    def quality_gate(self) -> CorpusQualityGate:
        """Corpus checks (near-duplicates, PII, hygiene); its index is mapped from the snapshot
        when there is one, else built on first use, and caught up before each check."""
        from store.quality.gate import CorpusQualityGate

        return CorpusQualityGate(
            self._dedup_index(),
            warn_threshold=self.settings.dedup_warn_threshold,
            block_threshold=self.settings.dedup_block_threshold,
        )

    def _dedup_index(self) -> DedupIndex:
        from store.quality.dedup import DedupIndex

        path = self.settings.dedup_snapshot
        if path and Path(path).exists():
            try:
                return DedupIndex.open(Path(path))
            except (OSError, ValueError, KeyError) as exc:
                log.warning(
                    "near-duplicate snapshot %s not used (%s); building from the database",
                    path,
                    exc,
                )
        return DedupIndex()

    def write_dedup_snapshot(self) -> int | None:
        """Rewrite the near-duplicate index snapshot (None when no snapshot is configured)."""
        path = self.settings.dedup_snapshot
        if not path:
            return None
        from store.quality.dedup import DedupIndex

        with session_scope(self.sessions) as s:
            return DedupIndex.write_snapshot(s, Path(path))

    def warm_up(self) -> None:
        """Build the near-duplicate index now, so the first writer does not wait for it.

        It only reads, for seconds on a large corpus: on SQLite a read transaction, so the
        other workers warming up and the writers are not held (a write lock would make them
        give up after the interactive busy timeout)."""
        with session_scope(self.read_sessions) as s:
            self.quality_gate.sync(s)

    def close(self) -> None:
        """Release database connections."""
        if "read_engine" in self.__dict__:
            self.read_engine.dispose()
            del self.__dict__["read_engine"]
            self.__dict__.pop("read_sessions", None)
        if "engine" in self.__dict__:
            self.engine.dispose()
