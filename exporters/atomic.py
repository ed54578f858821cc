"""Write a folder atomically: build it beside the target, fsync, rename into place."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from store.errors import Conflict


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under `root`, folders after their contents."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


@contextmanager
def atomic_folder(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it becomes `target`, else vanishes.

    Refuses (Conflict) when `target` exists, unless `overwrite`: then the old folder is
    replaced only after the new one is complete, by two renames.
    """
    target = Path(target).absolute()
    if target.exists() and not overwrite:
        raise Conflict(f"{target} already exists; choose another --out or pass --overwrite")
    if target.exists() and not target.is_dir():
        raise Conflict(f"{target} exists and is not a folder; choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp = target.parent / f".{target.name}.tmp-{token}"
    tmp.mkdir()
    try:
        yield tmp
        fsync_tree(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{token}"
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
        fsync_path(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _acquire(path: Path, target: Path) -> int:
    """A descriptor holding the lock of `path`, which still names the locked file."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Conflict(
                f"another export is writing {target} right now; wait for it to finish "
                "or choose another --out"
            ) from None
        held = os.fstat(fd)
        try:
            current = path.stat()
        except FileNotFoundError:
            current = None
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # the previous holder removed the file as we locked it: try again


@contextmanager
def target_lock(target: Path) -> Iterator[None]:
    """Hold the OS lock of `target` (a `.NAME.lock` file beside it) for one export; the OS
    drops it when the process ends, even by SIGKILL. Raises Conflict when it is taken."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = _lock_path(target)
    fd = _acquire(path, target)
    try:
        yield
    finally:
        # Removed while still locked, so a waiting opener notices and starts over.
        path.unlink(missing_ok=True)
        os.close(fd)


def remove_leftovers(target: Path) -> list[Path]:
    """Remove what interrupted exports into `target` left beside it (the caller holds
    `target_lock`, so nobody is writing them): temporary folders, and the previous folder
    set aside by an overwrite — put back when the new one never arrived."""
    target = Path(target).absolute()
    prefix = f".{glob.escape(target.name)}"
    removed: list[Path] = []
    for tmp in sorted(target.parent.glob(prefix + ".tmp-*")):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    for old in sorted(target.parent.glob(prefix + ".old-*")):
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
        else:
            old.rename(target)  # the overwrite died between its two renames
    return removed


def sweep_leftovers(target: Path) -> list[Path]:
    """`remove_leftovers` unless an export is writing `target` right now (then nothing)."""
    if not Path(target).absolute().parent.is_dir():
        return []
    try:
        with target_lock(target):
            return remove_leftovers(target)
    except Conflict:
        return []
