"""The float16 rows an IVF-PQ store (:mod:`~kgagent.retrieval.faiss_pq`) re-ranks with,
kept out of the process's memory.

At 10M facts x 256 dims they are 5 GB. Rows in saved ``.npy`` files are mapped read-only
(a search reads only the pages of its candidates). Rows added since the last save once
stayed in memory until the save, which then wrote them through a writable map: both
count in the process's peak resident set (``ru_maxrss`` counts resident file-backed
pages too), ~10 GB of a 10M-fact build. Here only the newest rows stay in memory (a tail
of fixed blocks, at most :data:`SPILL_BYTES` plus one block); older ones are appended to a
scratch file with plain writes and read back through a read-only map, and a save streams
the files into the new ``.npy`` in the kernel (``sendfile``: none of its pages is mapped
here) after a header written for the final shape.

The scratch file is created unlinked (``tempfile.TemporaryFile``) in the system temp
directory or ``spill_dir``: it has no name to leave behind, never sits in an index
directory, and the OS frees it once the store closes it or is collected, and once a save
has replaced the rows it held by the saved file (the old store's last reference goes).
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import weakref
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

__all__ = ["BLOCK", "SPILL_BYTES", "Rows16"]

#: in-memory rows past this many bytes are spilled to the scratch file (whole blocks). 64
#: MiB is two blocks at 256 dims: nothing against a 10M-fact build's 12 GiB budget (the
#: rows themselves are 5 GB), yet each spill is one 32+ MiB sequential write and one
#: re-map (~80 of each at 10M x 256 dims), and the newest rows, which a build's own
#: checks search first, stay in memory.
SPILL_BYTES = 64 << 20
#: rows per in-memory block: growth never copies (a doubling array would need 3x its size)
BLOCK = 65_536
_COPY = 64 << 20  # bytes per sendfile (or read) call when a save copies a file's rows


class _Segment(NamedTuple):
    """Rows in a file, mapped read-only (or, given by a caller, any array)."""

    rows: np.ndarray  # (n, d) float16
    file: BinaryIO | None  # the file mapped, copied from in the kernel; None: from memory
    offset: int  # byte offset of row 0 in ``file``


class _View(NamedTuple):
    """Everything a reader needs, swapped as one reference: a concurrent search sees
    either the rows before an append or after it, never a mix."""

    segments: tuple[_Segment, ...]  # saved files, then the scratch file
    blocks: tuple[np.ndarray, ...]  # the in-memory tail, (BLOCK, d) each
    used: int  # rows used in ``blocks``


class Rows16:
    """float16 rows addressed 0..n-1: mapped files, a scratch file, an in-memory tail.

    Args:
        dim: vector size.
        base: rows the store starts from (an array, e.g. a read-only ``np.memmap``).
        spill_dir: where the scratch file goes (None: the system temp directory).

    Appends are single-writer (the index's write lock); reads may run concurrently.
    """

    def __init__(
        self, dim: int, base: np.ndarray | None = None, *, spill_dir: str | Path | None = None
    ) -> None:
        self.dim, self.spill_dir = dim, spill_dir
        self._block = BLOCK
        self._spill: BinaryIO | None = None
        self._spilled = 0  # rows in the scratch file
        self._closers: list[weakref.finalize] = []
        segments = () if base is None or not len(base) else (_Segment(base, None, 0),)
        self._v: _View | None = _View(segments, (), 0)
        name = getattr(base, "filename", None)  # a caller's np.memmap: its file, if still there
        self._base_inode = _inode_of(Path(name)) if name and segments else None

    @classmethod
    def mapped(cls, paths: list[Path], dim: int, *, spill_dir: str | Path | None = None) -> Rows16:
        """The rows of ``.npy`` files, in order, mapped read-only (the first is the base a
        later save may hard-link).

        Raises:
            ValueError: a file is not an (n, dim) float16 .npy, or is truncated (names it).
            OSError: a file cannot be read.
        """
        self = cls(dim, spill_dir=spill_dir)
        segments = []
        try:
            for i, path in enumerate(paths):
                seg = _map_npy(path, dim)
                self._closers.append(weakref.finalize(self, seg.file.close))
                if len(seg.rows):
                    segments.append(seg)
                if i == 0 and len(seg.rows):
                    st = os.fstat(seg.file.fileno())
                    self._base_inode = (st.st_dev, st.st_ino)
        except BaseException:
            self.close()
            raise
        self._v = _View(tuple(segments), (), 0)
        return self

    # -- sizes --------------------------------------------------------------------------

    def __len__(self) -> int:
        v = self._view()
        return sum(len(s.rows) for s in v.segments) + v.used

    @property
    def base_rows(self) -> int:
        """Rows in the base (the first mapped file; 0 when none)."""
        v = self._view()
        return len(v.segments[0].rows) if v.segments and self._base_inode else 0

    @property
    def base_inode(self) -> tuple[int, int] | None:
        """(device, inode) of the base's file: a save hard-links it only if unchanged."""
        return self._base_inode

    @property
    def spilled(self) -> int:
        """Rows in the scratch file."""
        return self._spilled

    @property
    def in_memory(self) -> int:
        """Rows in the in-memory tail."""
        return self._view().used

    def _view(self) -> _View:
        if self._v is None:
            raise ValueError("the float16 rows are closed")
        return self._v

    # -- appends and reads ----------------------------------------------------------------

    def append(self, rows: np.ndarray) -> None:
        """Appends (m, d) rows, spilling whole blocks once the tail passes SPILL_BYTES."""
        v = self._view()
        for start in range(0, len(rows), self._block):  # bounded whatever m is
            v = _appended(v, rows[start : start + self._block], self.dim, self._block)
            if v.used * self.dim * 2 > SPILL_BYTES and v.used >= self._block:
                v = self._spilled_view(v)
        self._v = v

    def _spilled_view(self, v: _View) -> _View:
        """``v`` with its full tail blocks moved to the scratch file (plain writes; read
        back through a new read-only map of the whole file)."""
        full = v.used // self._block
        if self._spill is None:
            spill = tempfile.TemporaryFile(  # noqa: SIM115 -- the store's, closed in close()
                prefix="kgagent-rows16.", dir=self.spill_dir, buffering=0
            )
            self._closers.append(weakref.finalize(self, spill.close))
            self._spill = spill
        for block in v.blocks[:full]:
            _write_all(self._spill.fileno(), block)
        had = self._spilled
        self._spilled += full * self._block
        rows = np.memmap(self._spill, dtype=np.float16, mode="r", shape=(self._spilled, self.dim))
        files = v.segments[:-1] if had else v.segments  # the scratch file is always last
        return _View((*files, _Segment(rows, self._spill, 0)), v.blocks[full:],
                     v.used - full * self._block)  # fmt: skip

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The rows at ``rows`` (any shape, all in 0..n-1): rows.shape + (d,) float16."""
        v = self._view()
        flat = rows.reshape(-1)
        out = np.empty((len(flat), self.dim), dtype=np.float16)
        start = 0
        for seg in v.segments:
            end = start + len(seg.rows)
            at = np.flatnonzero((flat >= start) & (flat < end))
            if len(at) and seg.file is not None:
                _read_rows(seg, flat[at] - start, out, at)
            elif len(at):
                out[at] = seg.rows[flat[at] - start]
            start = end
        at = np.flatnonzero(flat >= start)
        block, offset = np.divmod(flat[at] - start, self._block)
        for b in np.unique(block).tolist():
            mine = block == b
            out[at[mine]] = v.blocks[b][offset[mine]]
        return out.reshape(*rows.shape, self.dim)

    # -- saving ---------------------------------------------------------------------------

    def write(self, path: Path, *, skip_base: bool = False) -> None:
        """Writes the rows (past the base if ``skip_base``) as one .npy, fsynced: a header
        for the final shape, then the files' rows copied in the kernel and the tail's
        written a block at a time. Nothing is mapped writable, so the written pages stay
        page cache, not this process's memory."""
        v = self._view()
        segments = v.segments[1:] if skip_base and self._base_inode else v.segments
        n = sum(len(s.rows) for s in segments) + v.used
        with open(path, "wb", buffering=0) as out:
            fd = out.fileno()
            _write_all(fd, _header(n, self.dim))
            for seg in segments:
                if seg.file is not None:
                    _copy_range(seg.file.fileno(), seg.offset, len(seg.rows) * self.dim * 2, fd)
                    continue
                for start in range(0, len(seg.rows), self._block):
                    _write_all(fd, seg.rows[start : start + self._block])
            for i, block in enumerate(v.blocks):
                _write_all(fd, block[: min(self._block, v.used - i * self._block)])
            os.fsync(fd)

    def close(self) -> None:
        """Closes the scratch file (freeing it) and the mapped files' handles; the rows
        are unusable afterwards. Searches already running keep their own maps."""
        for closer in self._closers:
            closer()
        self._v, self._spill = None, None


def _appended(v: _View, rows: np.ndarray, dim: int, block: int) -> _View:
    """``v`` with rows appended to its tail (the last block filled in place, past what
    any reader of ``v`` sees)."""
    blocks, used = list(v.blocks), v.used
    done = 0
    while done < len(rows):
        at = used % block
        if at == 0:
            blocks.append(np.empty((block, dim), dtype=np.float16))
        take = min(block - at, len(rows) - done)
        blocks[-1][at : at + take] = rows[done : done + take]
        done, used = done + take, used + take
    return _View(v.segments, tuple(blocks), used)


def _map_npy(path: Path, dim: int) -> _Segment:
    """An (n, dim) float16 .npy mapped read-only, with the open file (kept: a save copies
    from it even after the directory holding it was replaced)."""
    fh = open(path, "rb")  # noqa: SIM115 -- kept open: the segment's file
    try:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"format version {version}, expected 1.0 or 2.0")
        except ValueError as exc:
            raise ValueError(f"{path}: not a float16 .npy ({exc})") from exc
        if dtype != np.float16 or fortran or len(shape) != 2 or shape[1] != dim:
            raise ValueError(f"{path}: {dtype} {shape}, expected float16 (n, {dim})")
        offset, size = fh.tell(), os.fstat(fh.fileno()).st_size
        need = offset + shape[0] * dim * 2
        if size < need:
            raise ValueError(f"{path}: {size} bytes where {shape[0]} rows need {need}")
        rows = (np.memmap(fh, dtype=np.float16, mode="r", offset=offset, shape=shape)
                if shape[0] else np.zeros((0, dim), dtype=np.float16))  # fmt: skip
    except BaseException:
        fh.close()
        raise
    return _Segment(rows, fh, offset)


def _read_rows(seg: _Segment, rows: np.ndarray, out: np.ndarray, at: np.ndarray) -> None:
    """``out[at] = seg.rows[rows]``, read with ``pread`` rather than through the map.

    A fault on a mapped file maps the pages around it that the page cache holds (Linux
    "fault-around", MADV_RANDOM or not), and every mapped page counts in the process's
    resident set: re-ranking 256 questions' shortlists from a just-written scratch file
    made the whole file resident. ``pread`` copies the ~100 rows a question needs and
    maps nothing, so the rows stay the kernel's page cache however long a server runs.
    Consecutive rows are one read (a compaction or ``live_items`` reads whole runs, not
    a call per row). Positional reads share no file offset: concurrent searches are
    safe."""
    fd = seg.file.fileno()  # type: ignore[union-attr]
    size = seg.rows.shape[1] * 2  # bytes per float16 row
    order = np.argsort(rows, kind="stable")
    rows, at = rows[order], at[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1] + 1])  # runs of rows r, r+1..
    ends = np.r_[starts[1:], len(rows)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        buf = np.empty((b - a, seg.rows.shape[1]), dtype=np.float16)  # (run, d)
        where = seg.offset + int(rows[a]) * size
        if os.preadv(fd, [memoryview(buf.view(np.uint8))], where) != buf.nbytes:
            raise OSError(errno.EIO, f"short read of float16 rows {rows[a]}..{rows[b - 1]}")
        out[at[a:b]] = buf


def _header(n: int, dim: int) -> bytes:
    """The .npy header of an (n, dim) float16 array (padded so the rows start aligned)."""
    buf = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(np.float16))
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": (n, dim)}
    )
    return buf.getvalue()


def _write_all(fd: int, rows: np.ndarray) -> None:
    """Writes an array's bytes (or bytes) to ``fd`` in full (os.write may write less)."""
    data = memoryview(np.ascontiguousarray(rows)).cast("B")
    while len(data):
        data = data[os.write(fd, data) :]


def _copy_range(src: int, offset: int, count: int, dst: int) -> None:
    """Copies ``count`` bytes of ``src`` from ``offset`` to ``dst``: in the kernel where it
    can (``sendfile``: the bytes never enter this process), else through a bounded buffer.

    Raises:
        OSError: ``src`` ends early.
    """
    end, kernel = offset + count, hasattr(os, "sendfile")
    while offset < end:
        step = min(end - offset, _COPY)
        if kernel:
            try:
                sent = os.sendfile(dst, src, offset, step)
            except OSError as exc:  # not between these two files
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                kernel = False
                continue
        else:
            data = os.pread(src, step, offset)
            _write_all(dst, np.frombuffer(data, dtype=np.uint8))
            sent = len(data)
        if not sent:
            raise OSError(errno.EIO, f"float16 rows end {end - offset} bytes early")
        offset += sent


def _inode_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:  # renamed or deleted since it was mapped: not a base to hard-link
        return None
    return st.st_dev, st.st_ino
