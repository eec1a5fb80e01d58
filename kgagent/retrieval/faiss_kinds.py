"""The graph storage kinds behind :class:`~kgagent.retrieval.index.FactIndex`, over faiss.

``Flat`` is exact search (``IndexIDMap2(IndexFlatIP)``), which deletes in place; ``HNSW``
is approximate search (Malkov & Yashunin, TPAMI 2018), which cannot delete, so it keeps
tombstones (row id -1) and over-fetches past them. ``Flat16`` and ``HNSW16`` are the same
over float16 vectors (faiss's ``QT_fp16`` scalar quantizer: half the bytes, scores off by
~1e-3). All share one small interface (``kind``, ``live``, ``tombstones``, ``row_ids``,
``add``, ``remove``, ``search``, ``vectors``, ``live_items``) so the index switches
between them without caring which it holds (IVF-PQ, the same interface, is in
``faiss_pq.py``); the choice, the locking and persistence stay in ``index.py``. faiss is
imported on first use.

A saved faiss file is opened memory-mapped (:func:`open_mapped`): its vectors stay in the
page cache, read as searches touch them, not copied into the process. faiss cannot grow
or shrink a mapped array (it aborts the process), so the first write re-reads the file
into memory (:meth:`Mapped.own`) from a handle kept open since the load, which still
reads the same file even after a later save replaced the directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "HNSW",
    "HNSW16",
    "Flat",
    "Flat16",
    "Mapped",
    "faiss_module",
    "omp_threads",
    "open_mapped",
    "pad",
    "tune_blas",
]

_FAISS_DEFAULT_BLAS_THRESHOLD = 128_000  # faiss >= 1.10: in units of queries x dim


@cache
def faiss_module() -> Any:
    """The faiss module, imported on first use so that importing kgagent stays cheap."""
    import faiss

    return faiss


def tune_blas(faiss: Any, dim: int) -> None:
    """Lets exact search of 2+ queries use BLAS (one query keeps the faster SIMD scan).

    A process-wide faiss setting; changed only while it still has faiss's default, so a
    value the user set wins.
    """
    if faiss.cvar.distance_compute_blas_threshold == _FAISS_DEFAULT_BLAS_THRESHOLD:
        faiss.cvar.distance_compute_blas_threshold = dim + 1


@contextlib.contextmanager
def omp_threads(faiss: Any, n: int) -> Iterator[None]:
    """Runs faiss on ``n`` OpenMP threads in this thread only (the setting is per thread)."""
    previous = faiss.omp_get_max_threads()
    if previous == n:
        yield
        return
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def pad(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty search results: scores -inf, ids -1, (nq, k)."""
    scores = np.full((nq, k), -np.inf, dtype=np.float32)  # (q, k)
    ids = np.full((nq, k), -1, dtype=np.int64)  # (q, k)
    return scores, ids


def open_mapped(path: Path) -> tuple[Any, BinaryIO]:
    """A faiss index file read memory-mapped, and a handle on the file for :class:`Mapped`.

    Raises whatever faiss raises (RuntimeError) for a corrupt file.
    """
    faiss = faiss_module()
    handle = open(path, "rb")  # noqa: SIM115 -- kept open: the mapped file, for own()
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC), handle
    except BaseException:
        handle.close()
        raise


class Mapped:
    """A store whose faiss index may still be a read-only view of a mapped file."""

    index: Any
    _source: BinaryIO | None = None

    def own(self) -> None:
        """Reads the mapped index into memory, once, before its first write."""
        if self._source is None:
            return
        faiss = faiss_module()
        self._source.seek(0)
        self.index = faiss.read_index(faiss.PyCallbackIOReader(self._source.read))
        self._source.close()
        self._source = None
        self._owned()

    def _owned(self) -> None:
        """Settings to restore on the in-memory copy (search beams)."""


class Flat(Mapped):
    """Exact search; faiss removes ids itself (compacting the rows, O(n) per call)."""

    kind = "flat"

    def __init__(self, dim: int, index: Any = None, source: BinaryIO | None = None) -> None:
        faiss = faiss_module()
        self.index = index if index is not None else faiss.IndexIDMap2(self._codes(dim))
        self._source = source
        self.live: set[int] = set(self.row_ids().tolist())

    @staticmethod
    def _codes(dim: int) -> Any:
        return faiss_module().IndexFlatIP(dim)

    def __len__(self) -> int:
        return len(self.live)

    @property
    def tombstones(self) -> int:
        return 0

    def row_ids(self) -> np.ndarray:
        return faiss_module().vector_to_array(self.index.id_map).astype(np.int64, copy=False)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.own()
        self.remove(ids)  # replace: drop the old vectors of ids already present
        self.index.add_with_ids(vectors, ids)
        self.live.update(ids.tolist())

    def remove(self, ids: np.ndarray) -> int:
        present = np.fromiter((i in self.live for i in ids.tolist()), dtype=bool, count=len(ids))
        gone = ids[present]
        if len(gone):
            self.own()
            self.index.remove_ids(gone)
            self.live.difference_update(gone.tolist())
        return len(gone)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.live:
            return pad(len(queries), k)
        scores, ids = self.index.search(queries, k)  # (q, k), (q, k)
        scores[ids < 0] = -np.inf
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(ids)  # (m, d)

    def live_items(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.index.ntotal
        return self.row_ids(), self.index.index.reconstruct_n(0, n)  # (n,), (n, d)

    def raw_vectors(self) -> np.ndarray:
        """(n, d) view of the stored vectors in row order (no copy; valid until a write)."""
        faiss = faiss_module()
        n, d = self.index.ntotal, self.index.d
        if n == 0:
            return np.zeros((0, d), dtype=np.float32)
        flat = faiss.downcast_index(self.index.index)
        return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


class Flat16(Flat):
    """Exhaustive search over float16 vectors (saved as a faiss file, not raw rows)."""

    kind = "flat16"

    @staticmethod
    def _codes(dim: int) -> Any:
        faiss = faiss_module()
        return faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )

    def raw_vectors(self) -> np.ndarray:
        raise NotImplementedError("flat16 is saved as a faiss file")


class HNSW(Mapped):
    """Approximate search; removed or replaced rows become tombstones (row id -1)."""

    kind = "hnsw"

    def __init__(
        self,
        dim: int,
        *,
        m: int,
        ef_construction: int,
        ef_search: int,
        index: Any = None,
        row_ids: np.ndarray | None = None,
        source: BinaryIO | None = None,
    ) -> None:
        if index is None:
            index = self._graph(dim, m)
            index.hnsw.efConstruction = ef_construction
        self.index = index
        self.ef_search = ef_search
        self._source = source
        rows = np.empty(0, dtype=np.int64) if row_ids is None else row_ids
        self._row_ids = np.array(rows, dtype=np.int64)  # (capacity,), id per row, -1 = dead
        n = index.ntotal
        live = np.flatnonzero(self._row_ids[:n] >= 0)
        ids = self._row_ids[live].tolist()
        self.live: dict[int, int] = dict(zip(ids, live.tolist(), strict=True))  # id -> row

    @staticmethod
    def _graph(dim: int, m: int) -> Any:
        faiss = faiss_module()
        return faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)

    def _owned(self) -> None:
        self.index.hnsw.efSearch = self._ef

    @property
    def ef_search(self) -> int:
        return self._ef

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._ef = int(value)
        self.index.hnsw.efSearch = self._ef

    def __len__(self) -> int:
        return len(self.live)

    @property
    def tombstones(self) -> int:
        return self.index.ntotal - len(self.live)

    def row_ids(self) -> np.ndarray:
        return self._row_ids[: self.index.ntotal]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.own()
        self.remove(ids)
        base = self.index.ntotal
        need = base + len(ids)
        if need > len(self._row_ids):
            grown = np.full(max(need, 2 * len(self._row_ids), 1024), -1, dtype=np.int64)
            grown[:base] = self._row_ids[:base]
            self._row_ids = grown
        self.index.add(vectors)
        self._row_ids[base:need] = ids
        self.live.update(zip(ids.tolist(), range(base, need), strict=True))

    def remove(self, ids: np.ndarray) -> int:
        removed = 0
        for i in ids.tolist():
            row = self.live.pop(i, None)
            if row is not None:
                self._row_ids[row] = -1
                removed += 1
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq, n = len(queries), self.index.ntotal
        if not self.live:
            return pad(nq, k)
        if not self.tombstones:  # every row is live: map rows to ids, nothing to filter
            scores, rows = self.index.search(queries, k)  # (q, k), (q, k)
            ids = np.where(rows >= 0, self._row_ids[rows], -1)  # rows -1: faiss padding
            scores[rows < 0] = -np.inf
            return scores, ids
        scores, ids = pad(nq, k)
        # over-fetch past tombstones; a query that still finds fewer than k live rows (its
        # neighbourhood is full of replaced vectors) asks again, 4x deeper
        fetch = min(n, k + min(self.tombstones, max(k, 32)))
        todo = np.arange(nq)
        while len(todo):
            d, rows = self.index.search(queries[todo], fetch)  # (t, fetch), (t, fetch)
            found = np.where(rows >= 0, self._row_ids[np.maximum(rows, 0)], -1)  # (t, fetch)
            live = found >= 0
            order = np.argsort(~live, axis=1, kind="stable")[:, :k]  # live first, by score
            got_ids = np.take_along_axis(found, order, axis=1)  # (t, <=k)
            got = np.take_along_axis(np.where(live, d, -np.inf), order, axis=1)
            width = got_ids.shape[1]
            ids[todo, :width] = got_ids
            scores[todo, :width] = np.where(got_ids >= 0, got, -np.inf)
            short = live.sum(axis=1) < min(k, len(self.live))
            if fetch >= n or not short.any():
                break
            todo = todo[short]
            fetch = min(n, fetch * 4)
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        rows = np.fromiter((self.live[i] for i in ids.tolist()), dtype=np.int64, count=len(ids))
        return self.index.reconstruct_batch(rows)  # (m, d)

    def live_items(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.index.ntotal
        rows = np.flatnonzero(self._row_ids[:n] >= 0)
        return self._row_ids[rows], self.index.storage.reconstruct_n(0, n)[rows]


class HNSW16(HNSW):
    """HNSW over float16 vectors (``IndexHNSWSQ``): the graph's links cost the same."""

    kind = "hnsw16"

    @staticmethod
    def _graph(dim: int, m: int) -> Any:
        faiss = faiss_module()
        return faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, m, faiss.METRIC_INNER_PRODUCT)
