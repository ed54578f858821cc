"""`crowdtune export` end to end, and building a spec from the scheduler's option string."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.export import slack_exporter, spec_from_args
from bot.config import Settings, load_settings
from bot.runtime import Runtime
from exporters.spec import ExportSpecError
from tests.dbs import TestDatabase
from tests.export_data import SALT, Item, insert_items


@pytest.fixture
def env(db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("CROWDTUNE_PSEUDONYM_SALT", SALT)
    return tmp_path


def test_export_command(db: TestDatabase, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with db.session() as s:
        insert_items(s, [Item("open_qa", f"U{k}") for k in range(12)] + [Item("classification")])
    argv = ["export", "--out", "ds", "--format", "dolly,openai", "--balance", "cap", "--cap", "5"]
    assert main([*argv, "--test-size", "0.2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "6 examples" in out and "open_qa" in out and "dolly/train.jsonl" in out
    manifest = json.loads((env / "ds" / "manifest.json").read_text())
    assert manifest["spec"]["balance"] == "cap" and manifest["spec"]["seed"] == 3
    assert sorted(p.name for p in (env / "ds").iterdir()) == [
        "LICENSE",
        "README.md",
        "dolly",
        "dropped.jsonl",
        "manifest.json",
        "openai",
    ]
    # A second run into the same folder is refused with a message, not a traceback.
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_missing_salt_is_a_clear_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CROWDTUNE_PSEUDONYM_SALT")
    assert main(["export", "--out", "ds"]) == 2
    assert "CROWDTUNE_PSEUDONYM_SALT" in capsys.readouterr().err
    assert not (env / "ds").exists()


def test_bad_options_say_what_to_fix(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--out", "ds", "--balance", "cap"]) == 2
    assert "--balance cap needs --cap N" in capsys.readouterr().err
    assert main(["export", "--out", "ds", "--format", "dolly,csv"]) == 2
    assert "unknown format(s) csv" in capsys.readouterr().err
    assert main(["export"]) == 2
    assert "export needs --out DIR (the folder to create), or --dry-run" in capsys.readouterr().err
    assert main(["export", "--out", "ds", "--scrub-pii", "--drop-pii"]) == 2
    assert "choose one of --scrub-pii" in capsys.readouterr().err
    assert main(["export", "--out", "ds", "--system-prompt", " "]) == 2
    assert "--system-prompt must not be empty" in capsys.readouterr().err


def test_spec_from_the_scheduled_export_args() -> None:
    settings = Settings(pseudonym_salt=SALT)  # type: ignore[call-arg]
    spec = spec_from_args(settings.export_args, settings, SALT)
    assert spec.formats == ("dolly", "alpaca", "openai", "sharegpt", "parquet")
    assert (spec.balance, spec.cap, spec.salt) == ("cap", 2000, SALT)
    assert spec.near_dup_threshold == settings.dedup_block_threshold
    with pytest.raises(ExportSpecError, match="--temperature must be greater than 0"):
        spec_from_args(["--balance", "temperature", "--temperature", "0"], settings, SALT)
    with pytest.raises(ExportSpecError, match="invalid choice"):
        spec_from_args("--balance sideways", settings, SALT)
    with pytest.raises(ExportSpecError, match="CROWDTUNE_PSEUDONYM_SALT"):
        spec_from_args([], Settings(), "")


def test_slack_exporter_writes_a_stamped_folder_under_the_export_root(
    db: TestDatabase, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDTUNE_EXPORT_ROOT", str(env / "exports"))
    with db.session() as s:
        insert_items(s, [Item("open_qa", f"U{k}") for k in range(4)])
    rt = Runtime(load_settings())
    try:
        reply = slack_exporter(rt)("--format dolly --balance cap --cap 3 --test-size 0")
        [folder] = list((env / "exports").iterdir())
        assert "3 examples" in reply and str(folder) in reply and "open_qa" in reply
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["LICENSE", "README.md", "dolly", "dropped.jsonl", "manifest.json"]
        with pytest.raises(ExportSpecError, match="unknown format"):
            slack_exporter(rt)("--format csv")
    finally:
        rt.close()
