"""Atomic file and directory writes: a crash mid-write leaves the previous version."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
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
    "save_rows",
]

#: a rows file is rewritten whole once its tail passes this share of its base
MAX_TAIL = 0.25


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

    The old directory is moved aside before the new one is renamed in, then deleted; a
    crash leaves either the old or the new directory (plus, at worst, a stale temp dir).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
