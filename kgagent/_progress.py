"""Progress bars for long reads: a file wrapper that reports bytes as the parser pulls them."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterator
from typing import IO

__all__ = ["progress_opener"]


class _ProgressReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes], bar) -> None:
        self._raw = raw
        self._bar = bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._bar.update(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._bar.update(len(data))
        return data


def progress_opener(opener: Callable[[], IO[bytes]], *, total: int, desc: str):
    """Wraps ``opener`` so the stream it opens drives a tqdm bar (compressed size for .gz)."""

    @contextlib.contextmanager
    def open_with_progress() -> Iterator[IO[bytes]]:
        from tqdm import tqdm

        with (
            opener() as raw,
            tqdm(
                total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False
            ) as bar,
        ):
            # count bytes of the file on disk, even when decompressing
            fileobj = getattr(raw, "fileobj", None)
            if fileobj is not None:
                counted = _ProgressReader(fileobj, bar)
                raw.fileobj = counted  # type: ignore[attr-defined]
                yield raw
            else:
                yield _ProgressReader(raw, bar)

    return open_with_progress
