"""A new user's first mistakes, through the real `crowdtune` console script: one line each,
exit 2, no traceback, and no side effects (no SQLite file created by a read command)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from store.db import make_engine
from tests.conftest import REPO_ROOT
from tests.dbs import fresh_postgres_database, selected_kinds

CROWDTUNE = Path(sys.executable).parent / "crowdtune"
NEEDS_PG = pytest.mark.skipif(
    "postgresql" not in selected_kinds(), reason="PostgreSQL not selected"
)
PROBE = (sys.executable, "-m", "tests.scheduler_probe")
UNMIGRATED = "has no crowdtune tables: run 'crowdtune db upgrade'"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: none of our settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CROWDTUNE_", "SLACK_", "OPENAI_")) and k != "DATABASE_URL"
    }
    env.update(extra)
    return env


def crowdtune(
    cwd: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script in `cwd` with a clean environment."""
    return subprocess.run(
        [str(CROWDTUNE), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        input=stdin if stdin is not None else "",
        timeout=120,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert exit 2 with exactly one `crowdtune:` line on stderr; return it."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("crowdtune: ") and "Traceback" not in result.stderr
    return lines[0]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def _upgraded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per module where `crowdtune db upgrade` ran (a subprocess: seconds)."""
    folder = tmp_path_factory.mktemp("upgraded")
    result = crowdtune(folder, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def migrated(_upgraded: Path, tmp_path: Path) -> Path:
    """A folder whose crowdtune.db was made by `crowdtune db upgrade`: a copy of the module's
    one (the command exited, so the file is whole), so each test may change or drop it."""
    for made in _upgraded.iterdir():  # crowdtune.db, and any -wal/-shm SQLite kept beside it
        shutil.copy2(made, tmp_path / made.name)
    return tmp_path


# --- databases that cannot be used --------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("stats",),
        ("categories",),
        ("export", "--out", "ds"),
        ("import", "x.jsonl"),
        ("nudge", "--dry-run"),
    ],
)
def test_a_fresh_folder_says_run_db_upgrade_and_creates_no_file(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    (tmp_path / "x.jsonl").write_text('{"instruction": "a", "response": "b"}\n')
    line = one_line_error(crowdtune(tmp_path, *argv))
    assert line == f"crowdtune: the database at sqlite:///crowdtune.db {UNMIGRATED}"
    assert not (tmp_path / "crowdtune.db").exists()
    assert not (tmp_path / "ds").exists()


def test_db_current_does_not_create_the_file_either(tmp_path: Path) -> None:
    one_line_error(crowdtune(tmp_path, "db", "current"))
    assert sorted(tmp_path.iterdir()) == []


def test_an_empty_sqlite_file_says_run_db_upgrade(tmp_path: Path) -> None:
    (tmp_path / "crowdtune.db").touch()
    line = one_line_error(crowdtune(tmp_path, "stats"))
    assert line.endswith(UNMIGRATED)
    assert (tmp_path / "crowdtune.db").stat().st_size == 0


@NEEDS_PG
def test_an_unmigrated_postgres_database_says_run_db_upgrade(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        line = one_line_error(crowdtune(tmp_path, "categories", DATABASE_URL=url))
        assert line.endswith(UNMIGRATED)
        engine = make_engine(url)
        try:
            assert inspect(engine).get_table_names() == []
        finally:
            engine.dispose()


@NEEDS_PG
def test_a_postgres_database_that_does_not_exist(tmp_path: Path) -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:5432/crowdtune_no_such_db"
    line = one_line_error(crowdtune(tmp_path, "stats", DATABASE_URL=url))
    assert "s3cret-pw" not in line and "postgres:***@127.0.0.1:5432/crowdtune_no_such_db" in line
    assert "does not exist: create it (createdb crowdtune_no_such_db)" in line
    assert "crowdtune db upgrade" in line


def test_a_server_that_refuses_connections(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://crowd:hunter22@127.0.0.1:{port}/crowdtune"
    line = one_line_error(crowdtune(tmp_path, "stats", DATABASE_URL=url))
    assert "hunter22" not in line and f"127.0.0.1:{port}/crowdtune" in line
    assert "connection refused" in line and "DATABASE_URL" in line


@pytest.mark.parametrize("url", ["mysql://app:pw@db.internal/crowdtune", "mssql+pyodbc://x/y"])
def test_an_unsupported_database_url(tmp_path: Path, url: str) -> None:
    line = one_line_error(crowdtune(tmp_path, "stats", DATABASE_URL=url))
    assert "is not supported" in line and "SQLite" in line and "PostgreSQL" in line
    assert ":pw@" not in line


def test_a_url_that_is_not_a_url(tmp_path: Path) -> None:
    line = one_line_error(crowdtune(tmp_path, "stats", DATABASE_URL="crowdtune.db"))
    assert "is not a database URL" in line and "sqlite:///" in line


# --- pipes and Slack ----------------------------------------------------------------------


def test_a_closed_pipe_is_no_traceback(migrated: Path) -> None:
    proc = subprocess.Popen(
        [str(CROWDTUNE), "categories"],
        cwd=migrated,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader (`head -3`) is gone before the command writes
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err
    assert proc.returncode == 1


def test_serve_with_slack_unreachable_is_one_line_naming_the_url(migrated: Path) -> None:
    api = f"http://127.0.0.1:{closed_port()}/api/"
    result = crowdtune(
        migrated,
        "serve",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
        SLACK_API_URL=api,
    )
    line = one_line_error(result)
    assert f"cannot reach Slack at {api}" in line and "SLACK_API_URL" in line


# --- scheduler ----------------------------------------------------------------------------


def test_scheduler_run_of_a_skipped_job_fails_naming_the_setting(migrated: Path) -> None:
    result = crowdtune(migrated, "scheduler", "--run", "digest")
    assert result.returncode == 3, result.stderr
    assert '"outcome": "skipped"' in result.stdout
    assert "crowdtune: digest did not run: needs SLACK_BOT_TOKEN and CROWDTUNE_DIGEST_CHANNEL" in (
        result.stderr
    )


def test_scheduler_run_of_an_export_without_any_salt_fails(tmp_path: Path) -> None:
    # Migrated by Alembic alone (no `db upgrade`, so no stored salt), no salt in the environment.
    from migrations import runner

    runner.upgrade(f"sqlite:///{tmp_path / 'crowdtune.db'}")
    result = crowdtune(tmp_path, "scheduler", "--run", "export")
    assert result.returncode == 3
    assert "export did not run: no pseudonym salt" in result.stderr


def test_scheduler_list_shows_the_cron_as_written_and_the_next_fire_in_the_zone(
    migrated: Path,
) -> None:
    result = crowdtune(
        migrated,
        "scheduler",
        "--list",
        CROWDTUNE_TIMEZONE="Asia/Kolkata",
        CROWDTUNE_EXPORT_CRON="30 3 * * 1",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    export_line = next(ln for ln in out.splitlines() if ln.startswith("export "))
    assert "30 3 * * 1" in export_line and "CROWDTUNE_EXPORT_CRON" in export_line
    assert "T03:30:00+05:30" in export_line  # next fire in the configured zone
    assert "next fire (Asia/Kolkata)" in out
    assert "cron[" not in out and "_recover" not in out and "recover stale" not in out
    assert {ln.split()[0] for ln in out.splitlines()[1:] if not ln.startswith(" ")} == {
        "expiry",
        "consent_expiry",
        "nudges",
        "gap_fill",
        "export",
        "dedup_snapshot",
        "digest",
    }


# --- db downgrade / revision --------------------------------------------------------------


def test_downgrade_base_needs_yes_off_a_terminal(migrated: Path) -> None:
    line = one_line_error(crowdtune(migrated, "db", "downgrade", "base"))
    assert "drops every table" in line and "--yes" in line
    engine = make_engine(f"sqlite:///{migrated / 'crowdtune.db'}")
    try:
        assert inspect(engine).has_table("examples")
        result = crowdtune(migrated, "db", "downgrade", "base", "--yes")
        assert result.returncode == 0, result.stderr
        assert not inspect(engine).has_table("examples")
    finally:
        engine.dispose()


def test_downgrade_base_on_a_terminal_asks_and_no_keeps_everything(migrated: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(CROWDTUNE), "db", "downgrade", "base"],
        cwd=migrated,
        env=clean_env(),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.write(leader, b"n\n")
    _, err = proc.communicate(timeout=60)
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 1 and b"nothing was changed" in err
    engine = make_engine(f"sqlite:///{migrated / 'crowdtune.db'}")
    try:
        assert inspect(engine).has_table("examples")
    finally:
        engine.dispose()


def test_db_upgrade_sums_up_what_it_applied_in_a_line_without_alembic_s_log(
    tmp_path: Path,
) -> None:
    """A first `db upgrade` says which migrations it applied; stderr holds no log lines (it
    held some twenty of Alembic's INFO lines); a second says it had nothing to do."""
    from migrations import runner

    result = crowdtune(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first = result.stdout.splitlines()[0]
    revisions = runner.revisions_between("sqlite://", None, "head")
    head = revisions[-1]
    assert first == (
        f"applied {len(revisions)} migrations ({revisions[0]} … {head}); "
        f"the database is at {head}; 8 default categories added"
    )
    again = crowdtune(tmp_path, "db", "upgrade")
    assert again.stdout.splitlines()[0] == (
        f"the database is already at {head}; 0 default categories added"
    )
    back = crowdtune(tmp_path, "db", "downgrade", revisions[-3])
    assert back.stdout.strip() == (
        f"reverted 2 migrations ({head} … {revisions[-2]}); the database is at {revisions[-3]}"
    )
    older = crowdtune(tmp_path, "db", "upgrade", revisions[0])
    assert older.stdout.splitlines()[0].startswith(
        f"the database is already at {revisions[-3]}, past {revisions[0]} "
        f"('crowdtune db downgrade {revisions[0]}' goes back)"
    )
    verbose = crowdtune(tmp_path, "db", "upgrade", CROWDTUNE_LOG_LEVEL="DEBUG")
    assert verbose.stderr.count("Running upgrade") == 2  # asked for: Alembic's own lines


@pytest.mark.parametrize("action", ["upgrade", "downgrade"])
def test_db_migrate_to_an_unknown_revision_is_one_line_naming_the_known_ones(
    migrated: Path, action: str
) -> None:
    line = one_line_error(crowdtune(migrated, "db", action, "0O14"))
    assert "cannot migrate to '0O14'" in line and "'head' and 'base'" in line


def test_db_revision_without_model_changes_writes_no_file(migrated: Path) -> None:
    versions = REPO_ROOT / "migrations" / "versions"
    before = set(versions.iterdir())
    result = crowdtune(migrated, "db", "revision", "-m", "nothing changed")
    written = set(versions.iterdir()) - before
    for path in written:  # keep the repository clean even when the test fails
        path.unlink()
    assert result.returncode == 0, result.stderr
    assert written == set()
    assert "no model changes: no revision written" in result.stdout


# --- a second SIGTERM ---------------------------------------------------------------------


@pytest.fixture
def probe_url(tmp_path: Path) -> Iterator[str]:
    from migrations import runner
    from tests.scheduler_probe import probe_meta

    url = f"sqlite:///{tmp_path / 'probe.db'}"
    runner.upgrade(url)
    engine = make_engine(url)
    probe_meta.create_all(engine)
    engine.dispose()
    yield url


def running_jobs(url: str) -> int:
    """Runs of the probe job claimed and not finished."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return len(conn.execute(text("SELECT id FROM job_runs WHERE status = 'running'")).all())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_second_sigterm_during_shutdown_logs_nothing_alarming(
    probe_url: str, tmp_path: Path
) -> None:
    import signal
    import time

    log = tmp_path / "worker.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*PROBE, probe_url, "--worker-id", "W", "--job-seconds", "2"],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
        try:
            deadline = time.monotonic() + 60
            # Wait (by polling the log, with a deadline) until a run is in progress...
            while not running_jobs(probe_url):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            # ...then until the first signal's shutdown is waiting for it, and signal again.
            while "scheduler stopping on signal" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=180)  # a loaded machine: running jobs finish first
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text and "SchedulerNotRunningError" not in text, text
    assert "already stopping" in text
