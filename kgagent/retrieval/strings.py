"""Many strings as two arrays: their UTF-8 bytes end to end, and where each one starts.

A Python ``str`` costs ~50 bytes of header beside its text and a pointer in whatever
holds it; ten million fact sentences as objects are over a gigabyte before they are
read. As a blob and an offset array they cost their text plus 8 bytes each, save and
load as two files, and map from disk (``np.load(mmap_mode="r")``), so opening an index
reads nothing until a fact is shown. A sorted :class:`Strings` is also a dictionary:
:meth:`Strings.find` bisects it, with no hash table held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from kgagent._io import fsync_file, random_access

__all__ = ["Strings"]


class Strings:
    """An immutable sequence of strings stored as UTF-8 bytes plus (n + 1,) int64 offsets.

    Args:
        data: (b,) uint8, the strings' bytes end to end.
        offsets: (n + 1,) int64, string i is ``data[offsets[i]:offsets[i + 1]]``.
    """

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self.data = data
        self.offsets = offsets
        self._decoded: np.ndarray | None = None

    @classmethod
    def from_list(cls, strings: Iterable[str]) -> Strings:
        encoded = [s.encode("utf-8") for s in strings]
        return cls.from_bytes(encoded)

    @classmethod
    def from_bytes(cls, encoded: Sequence[bytes]) -> Strings:
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.data[a:b].tobytes().decode("utf-8")

    def take(self, rows: Iterable[int]) -> list[str]:
        """The strings at ``rows``, in that order."""
        return [self[int(r)] for r in rows]

    def tolist(self) -> list[str]:
        return self.decoded().tolist()

    def decoded(self) -> np.ndarray:
        """(n,) object array of every string, decoded once and kept (for whole-column
        work; one string at a time is :meth:`__getitem__`)."""
        if self._decoded is None:
            blob = self.data.tobytes()
            ends = self.offsets.tolist()
            out = np.empty(len(self), dtype=object)
            out[:] = [blob[a:b].decode("utf-8") for a, b in pairwise(ends)]
            self._decoded = out
        return self._decoded

    def find(self, value: str) -> int:
        """The index of ``value`` in a sorted :class:`Strings` (by UTF-8 bytes, which is
        code point order), -1 if absent: a bisection, ~log2(n) slices compared."""
        key = value.encode("utf-8")
        lo, hi = 0, len(self)
        data, offsets = self.data, self.offsets
        while lo < hi:
            mid = (lo + hi) // 2
            here = data[offsets[mid] : offsets[mid + 1]].tobytes()
            if here < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self) and data[offsets[lo] : offsets[lo + 1]].tobytes() == key:
            return lo
        return -1

    # -- persistence --------------------------------------------------------------------

    def save(self, directory: Path, name: str) -> list[str]:
        """Writes ``NAME.bin`` (the bytes) and ``NAME.offsets.npy``; returns the names."""
        blob, offsets = f"{name}.bin", f"{name}.offsets.npy"
        with open(directory / blob, "wb") as fh:
            fh.write(memoryview(np.ascontiguousarray(self.data)))
        np.save(directory / offsets, np.ascontiguousarray(self.offsets), allow_pickle=False)
        for f in (blob, offsets):
            fsync_file(directory / f)
        return [blob, offsets]

    @classmethod
    def load(cls, directory: Path, name: str) -> Strings:
        """Maps what :meth:`save` wrote; ValueError if the two files disagree."""
        offsets = random_access(
            np.load(directory / f"{name}.offsets.npy", mmap_mode="r", allow_pickle=False)
        )
        blob = directory / f"{name}.bin"
        size = blob.stat().st_size
        data = (random_access(np.memmap(blob, dtype=np.uint8, mode="r")) if size
                else np.zeros(0, dtype=np.uint8))  # fmt: skip
        if offsets.ndim != 1 or len(offsets) < 1 or offsets.dtype != np.int64:
            raise ValueError(f"{name}.offsets.npy: not a (n + 1,) int64 array")
        if int(offsets[0]) != 0 or int(offsets[-1]) != size:
            raise ValueError(
                f"{name}.offsets.npy: ends at {int(offsets[-1])}, {blob.name} has {size} bytes"
            )
        return cls(data, offsets)
