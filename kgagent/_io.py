"""Atomic file and directory writes: a crash mid-write leaves the previous version, or
the new one, never a mix, a missing directory or (after the next open) temp litter."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import mmap
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where used: the CLI's --help stays light
    import numpy as np

__all__ = [
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_file",
    "load_rows",
    "recover_dir",
    "save_rows",
]

log = logging.getLogger(__name__)

#: a rows file is rewritten whole once its tail passes this share of its base
MAX_TAIL = 0.25
#: how long a reader that finds a directory missing waits for a save of it in progress
RECOVER_WAIT = 10.0


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_file(path: Path) -> None:
    """Flushes a file to disk (before a directory swap publishes it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to a temp file beside ``path``, fsyncs, then renames over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yields a temp directory that replaces ``path`` as a whole once the block succeeds.

    The swap commits in one rename and is finished by whoever comes next if a crash cuts
    it short. Steps (``N`` = ``path.name``): the block writes into ``.N.XXXXXXXX.tmp``;
    its files are fsynced and it is renamed to ``.N.new`` (the commit point: a complete
    new version); ``path`` is renamed to ``.N.old``; ``.N.new`` to ``path``; ``.N.old``
    is deleted. A kill anywhere leaves either the old version, or a committed ``.N.new``
    that :func:`recover_dir` (run by every later save, and by :mod:`kgagent.artifact`'s
    readers when something is amiss) renames into place, never no directory at all.

    One save of ``path`` runs at a time: each holds an exclusive ``flock`` on
    ``.N.lock`` beside it for its whole duration, so a temp directory whose lock is free
    belongs to a killed save and is deleted, while a concurrent save's is left alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _save_lock(path, wait=True):
        _recover_locked(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_tree(tmp)
        new, old = _side(path, "new"), _side(path, "old")
        os.replace(tmp, new)  # committed: from here on, recovery rolls forward
        _fsync_dir(path.parent)
        _swap_in(path, new, old)


def recover_dir(path: str | Path) -> bool:
    """Repairs what a killed :func:`atomic_dir` save of ``path`` left; True if it did.

    A committed new version (``.N.new``) is renamed into place; failing that, when
    ``path`` is missing, the previous version (``.N.old``, or an older release's
    ``.N.old-PID``) is put back; stale temp directories are deleted. Free when there is
    nothing to repair (one listing of the parent directory). Skipped while another
    process saves ``path`` (it holds the lock) unless ``path`` is missing, when it waits
    up to ``RECOVER_WAIT`` seconds for that save to finish. Skipped quietly where the
    lock file cannot be created (a read-only directory): the reader then sees what
    is there.
    """
    path = Path(path)
    if not _leftovers(path):
        return False
    deadline = time.monotonic() + RECOVER_WAIT
    while True:
        try:
            with _save_lock(path, wait=False) as held:
                if held:
                    return _recover_locked(path)
        except OSError as exc:  # no lock file here (read-only): leave things as they are
            log.debug("%s: cannot lock for recovery (%s)", path, exc)
            return False
        if path.exists() or time.monotonic() > deadline:
            return False  # a save in progress; what is there is consistent (or it ends soon)
        time.sleep(0.05)


def _side(path: Path, what: str) -> Path:
    return path.with_name(f".{path.name}.{what}")


def _leftovers(path: Path) -> list[Path]:
    """Entries beside ``path`` that a save of it made: ``.N.new``, ``.N.old``,
    ``.N.old-PID`` (an older release's name) and ``.N.XXXXXXXX.tmp`` temp directories."""
    prefix = f".{path.name}."
    pattern = re.compile(re.escape(prefix) + r"(new|old|old-\d+|[a-z0-9_]{8}\.tmp)")
    try:
        with os.scandir(path.parent) as entries:
            return [
                Path(e.path)
                for e in entries
                if e.name.startswith(prefix) and pattern.fullmatch(e.name) and e.is_dir()
            ]
    except OSError:
        return []


def _recover_locked(path: Path) -> bool:
    """:func:`recover_dir`'s work, with the save lock held (no save of ``path`` runs)."""
    found = _leftovers(path)
    if not found:
        return False
    new, old = _side(path, "new"), _side(path, "old")
    if new.is_dir():  # committed but not swapped in: finish the swap
        log.warning("%s: finishing an interrupted save (%s)", path, new.name)
        _swap_in(path, new, old)
    elif not path.exists():
        olds = sorted(
            (p for p in found if p.name.startswith(old.name) and p.is_dir()),
            key=lambda p: p.stat().st_mtime,
        )
        if olds:
            log.warning("%s: missing after an interrupted save; restoring %s", path, olds[-1].name)
            os.replace(olds[-1], path)
            _fsync_dir(path.parent)
    for p in found:  # temps of killed saves, old copies no longer needed
        if p.exists() and p != path:
            shutil.rmtree(p, ignore_errors=True)
    return True


def _swap_in(path: Path, new: Path, old: Path) -> None:
    """``path`` -> ``old``, ``new`` -> ``path``, ``old`` deleted (``new`` is complete)."""
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(new, path)
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    """Flushes every file under ``root`` and the directories themselves, so a committed
    version survives a power cut too (files already flushed cost next to nothing)."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                with contextlib.suppress(OSError):
                    fsync_file(p)
        _fsync_dir(Path(dirpath))


@contextlib.contextmanager
def _save_lock(path: Path, *, wait: bool) -> Iterator[bool]:
    """An exclusive ``flock`` on ``.N.lock`` beside ``path``; yields whether it is held
    (False only with ``wait=False`` when another save holds it).

    The lock file is deleted on release, so no litter is left beside the directory (or
    inside a parent's temp directory, for nested saves). A waiter that wakes holding a
    deleted file's lock retries on the file now at that name (the usual check of the
    inode), so two holders never overlap.
    """
    lock = path.with_name(f".{path.name}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        except BaseException:
            os.close(fd)
            raise
        try:
            here = os.stat(lock)
            mine = os.fstat(fd)
            current = (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # the previous holder deleted it: lock the new file instead
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def save_rows(
    directory: Path, name: str, array: np.ndarray, reuse: Path | None = None
) -> list[str]:
    """Writes a 2-d array as ``NAME.npy``, or reuses a previous save of its leading rows.

    If ``reuse/NAME.npy`` (a previous save, e.g. the directory an atomic save replaces)
    holds exactly the array's first rows, it is hard-linked, not rewritten, and only the
    rest goes to ``NAME.tail.npy``: adding a thousand vectors to a 200 MB matrix writes
    1.5 MB. Rows are compared, not trusted. The whole array is written when there is
    nothing to reuse, a row changed, the tail passes ``MAX_TAIL`` of the base, or the
    file system has no hard links. New files are fsynced. Returns the file names written.
    """
    import numpy as np

    array = np.ascontiguousarray(array)
    base_file = directory / f"{name}.npy"
    tail_file = directory / f"{name}.tail.npy"
    if reuse is not None and (reuse / f"{name}.npy").is_file():
        try:
            base = np.load(reuse / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            n = len(base)
            ok = (
                0 < n <= len(array)
                and base.shape[1:] == array.shape[1:]
                and base.dtype == array.dtype
                and len(array) - n <= MAX_TAIL * n
                and np.array_equal(base, array[:n])
            )
            del base
            if ok:
                os.link(reuse / f"{name}.npy", base_file)
                files = [base_file.name]
                if len(array) > n:
                    np.save(tail_file, array[n:], allow_pickle=False)
                    fsync_file(tail_file)
                    files.append(tail_file.name)
                return files
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                base_file.unlink()
    np.save(base_file, array, allow_pickle=False)
    fsync_file(base_file)
    return [base_file.name]


def load_rows(directory: Path, name: str) -> np.ndarray:
    """Reads what :func:`save_rows` wrote (raises OSError / ValueError if unreadable)."""
    import numpy as np

    base = np.load(directory / f"{name}.npy", allow_pickle=False)
    tail_file = directory / f"{name}.tail.npy"
    if not tail_file.is_file():
        return base
    tail = np.load(tail_file, allow_pickle=False)
    if tail.shape[1:] != base.shape[1:] or tail.dtype != base.dtype:
        raise ValueError(f"{tail_file}: shape {tail.shape} does not extend {base.shape}")
    return np.concatenate([base, tail])


def random_access(array: Any) -> Any:
    """Tells the kernel a mapped array is read at random (``MADV_RANDOM``) and returns it.

    A lookup needs one page, but by default the kernel reads ahead around every fault,
    and what it reads in is counted as the process's resident memory: searching an
    IVF-PQ index re-ranks a hundred scattered float16 rows a question, and on 10M facts
    the whole 5 GB file soon counted as resident. A no-op for an in-memory array, or
    where the platform has no madvise."""
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mmap, "MADV_RANDOM"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            mapped.madvise(mmap.MADV_RANDOM)
    return array
