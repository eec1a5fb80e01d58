"""IVF-PQ storage for :class:`~kgagent.retrieval.index.FactIndex`: product-quantized codes
in inverted lists, the shortlist re-ranked with float16 copies of the vectors.

IVFADC (Jégou, Douze & Schmid, "Product quantization for nearest neighbor search",
TPAMI 2011), optionally with an OPQ rotation first (Ge, He, Ke & Sun, "Optimized product
quantization", TPAMI 2014), both faiss's. Why this shape for 10M facts on 2 cores: float32
vectors (1 KiB each at 256 dims) no longer fit beside the model, an HNSW graph over them
takes hours to build, and exhaustive search of 10M vectors takes a second per question.
A PQ code is ``bytes`` (dim / 8 by default) per fact in memory; a query scans only
``nprobe`` of ``nlist`` lists; the codes' scores are rough, so the best ``refine`` of them
are scored again exactly from float16 vectors that stay on disk, memory-mapped (one page
read per candidate), which restores most of the recall PQ loses; rows added since the last
save go to a scratch file, not memory (:mod:`~kgagent.retrieval.rows16`).

Training (k-means for the lists, and per sub-space for the codes) runs on a bounded
random sample (``train_max`` vectors), once: later adds are encoded with the trained
codebooks, and removals are tombstones (row id -1) dropped by :meth:`IVFPQ.compact`
without retraining. Only an explicit rebuild retrains. faiss stores rows (positions in
the float16 array), not fact ids, in its lists; ``row_ids`` maps rows to ids.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from kgagent._io import MAX_TAIL, fsync_file
from kgagent.retrieval.faiss_kinds import Mapped, faiss_module, pad
from kgagent.retrieval.rows16 import Rows16

__all__ = ["IVFPQ", "PQ_MIN", "PQParams"]

#: fewer vectors than this are searched exactly even when PQ is asked for: 256 centroids
#: per sub-space cannot be trained on fewer, and exact search of so few costs nothing
PQ_MIN = 1024
_CHUNK = 65_536  # vectors encoded (or decoded) at once: bounds the float32 copies


@dataclass(frozen=True)
class PQParams:
    """IVF-PQ settings; 0 means "chosen from the size" (:meth:`resolved`).

    Attributes:
        bytes: code bytes per vector (sub-quantizers of 8 bits); must divide dim.
            Default dim / 8: sub-vectors of 8 dims.
        nlist: inverted lists. Default 2^floor(log2 sqrt n), at most ``train_max`` / 39
            (faiss's floor of points per centroid): 1,024 at 1M, 2,048 at 10M. More lists
            cost each add a longer nearest-list search (n x nlist x dim flops).
        nprobe: lists a query scans. Default nlist / 8: on the MetaQA MiniLM vectors
            (129k, nlist 256) recall@10 is limited by the lists scanned, not by the codes:
            0.53 / 0.63 / 0.71 / 0.80 at nprobe 4 / 8 / 16 / 32 (refine 100), each query
            under 1 ms, far inside the 100 ms budget (docs/benchmarks.md).
        opq: learn a rotation before quantizing (better codes, slower training).
        refine: shortlist re-scored with the float16 vectors (0: PQ scores only).
        train_max: training sample size (bounds training time).
    """

    bytes: int = 0
    nlist: int = 0
    nprobe: int = 0
    opq: bool = False
    refine: int = 100
    train_max: int = 100_000

    def __post_init__(self) -> None:
        for name in ("bytes", "nlist", "nprobe", "refine"):
            if getattr(self, name) < 0:
                raise ValueError(f"pq {name} must be >= 0, not {getattr(self, name)}")
        if self.train_max < PQ_MIN:
            raise ValueError(f"pq train_max must be >= {PQ_MIN}, not {self.train_max}")

    def resolved(self, dim: int, n: int) -> PQParams:
        """Concrete values for ``n`` vectors of ``dim``."""
        m = self.bytes or _divisor_near(dim, max(1, dim // 8))
        if dim % m:
            raise ValueError(f"pq bytes {m} must divide the vector size {dim}")
        train = min(n, self.train_max)
        nlist = self.nlist or 2 ** int(math.log2(max(1.0, math.sqrt(n))))
        nlist = max(1, min(nlist, train // 39))
        nprobe = min(nlist, self.nprobe or max(1, nlist // 8))
        return dataclasses.replace(self, bytes=m, nlist=nlist, nprobe=nprobe)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _divisor_near(dim: int, want: int) -> int:
    """The divisor of ``dim`` closest to ``want`` (ties: the smaller)."""
    return min((d for d in range(1, dim + 1) if dim % d == 0), key=lambda d: (abs(d - want), d))


class _RowMap:
    """id -> row without a Python dict of every id (~100 B per entry: 1 GB at 10M facts):
    a sorted array of ids with their rows, plus a dict of rows added since it was sorted,
    merged in once it passes an eighth of the array (O(n log n) amortized over growth).
    A row found is checked against ``row_ids``, so stale entries read as absent."""

    def __init__(self, row_ids: np.ndarray) -> None:
        self.rebuild(row_ids)

    def rebuild(self, row_ids: np.ndarray) -> None:
        live = np.flatnonzero(row_ids >= 0)
        order = np.argsort(row_ids[live], kind="stable")
        self._ids, self._rows = row_ids[live][order], live[order]  # (n,), (n,)
        self._recent: dict[int, int] = {}

    def rows(self, ids: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
        """(m,) the live row of each id, -1 where absent."""
        pos = np.minimum(np.searchsorted(self._ids, ids), max(0, len(self._ids) - 1))
        rows = np.full(len(ids), -1, dtype=np.int64)
        if len(self._ids):
            hit = self._ids[pos] == ids
            rows[hit] = self._rows[pos[hit]]
        if self._recent:
            get = self._recent.get
            for j, i in enumerate(ids.tolist()):
                r = get(i)
                if r is not None:
                    rows[j] = r
        ok = rows >= 0
        ok[ok] = row_ids[rows[ok]] == ids[ok]
        rows[~ok] = -1
        return rows

    def put(self, ids: np.ndarray, rows: np.ndarray, row_ids: np.ndarray) -> None:
        self._recent.update(zip(ids.tolist(), rows.tolist(), strict=True))
        if len(self._recent) > max(_CHUNK, len(self._ids) // 8):
            self.rebuild(row_ids)


class _Live:
    """``id in store.live`` and ``len(store.live)`` over the row map. It holds the store
    weakly: no cycle, so a dropped store (and its scratch file) goes at once, not at the
    next cyclic collection."""

    def __init__(self, store: IVFPQ) -> None:
        self._store = weakref.ref(store)

    def __contains__(self, id: object) -> bool:
        store = self._store()
        return store is not None and bool(store.rows_of(np.array([id], dtype=np.int64))[0] >= 0)

    def __len__(self) -> int:
        store = self._store()
        return 0 if store is None else store.count


class IVFPQ(Mapped):
    """IVF-PQ codes (in memory, or a mapped file until the first write) + float16 rows.

    The float16 rows (:class:`~kgagent.retrieval.rows16.Rows16`) are the last save's files,
    mapped read-only, then rows added since: the newest in memory, older ones in a scratch
    file in ``spill_dir`` (None: the system temp directory). A save or a compaction builds
    new rows and swaps them in as one reference, so a concurrent search sees either.
    """

    kind = "ivfpq"
    compacts = True  # drops tombstones without a rebuild (no retraining)
    exact_vectors = False

    def __init__(
        self,
        dim: int,
        params: PQParams,
        index: Any,
        *,
        row_ids: np.ndarray | None = None,
        base16: np.ndarray | None = None,
        tail16: np.ndarray | None = None,
        source: BinaryIO | None = None,
        trained_on: int = 0,
        train_seconds: float = 0.0,
        spill_dir: str | Path | None = None,
        rows16: Rows16 | None = None,
    ) -> None:
        """``rows16`` (the rows as :meth:`open` maps them) replaces ``base16``."""
        self.dim, self.params, self.index, self._source = dim, params, index, source
        self.trained_on, self.train_seconds = trained_on, train_seconds
        self.spill_dir = spill_dir
        self._owned()
        n = index.ntotal
        rows = np.empty(0, dtype=np.int64) if row_ids is None else row_ids
        self._row_ids = np.array(rows, dtype=np.int64)  # (capacity,), id per row, -1 = dead
        self._rows = rows16 if rows16 is not None else Rows16(dim, base16, spill_dir=spill_dir)
        if tail16 is not None:
            self._rows.append(tail16)
        self.count = int((self._row_ids[:n] >= 0).sum())
        self._map = _RowMap(self._row_ids[:n])
        self.live = _Live(self)

    def _owned(self) -> None:
        self.ivf = faiss_module().extract_index_ivf(self.index)
        self.ivf.nprobe = self.params.nprobe

    # -- training -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        dim: int,
        params: PQParams,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        seed: int = 0,
        spill_dir: str | Path | None = None,
    ) -> IVFPQ:
        """Trains on a sample of ``vectors`` (n, d) (float32 or float16, may be mapped) and
        adds them all under ``ids`` (n,)."""
        faiss = faiss_module()
        n = len(ids)
        p = params.resolved(dim, n)
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, p.train_max), replace=False))
        x = np.ascontiguousarray(vectors[sample], dtype=np.float32)  # (t, d)
        spec = f"IVF{p.nlist},PQ{p.bytes}x8np"  # np: no polysemous training (76 s of 80)
        index = faiss.index_factory(dim, f"OPQ{p.bytes},{spec}" if p.opq else spec,
                                    faiss.METRIC_INNER_PRODUCT)  # fmt: skip
        # each sub-quantizer's k-means on 64 points per centroid (16k), not faiss's 256:
        # 48 of them cost ~1.2 ms per point on one core
        faiss.downcast_index(faiss.extract_index_ivf(index)).pq.cp.max_points_per_centroid = 64
        if p.opq:  # OPQ alternates rotation and PQ training: 50 rounds by default
            faiss.downcast_VectorTransform(index.chain.at(0)).niter = 10
        index.train(x)
        del x
        store = cls(dim, p, index, trained_on=len(sample),
                    train_seconds=time.perf_counter() - t0, spill_dir=spill_dir)  # fmt: skip
        for start in range(0, n, _CHUNK):
            chunk = np.ascontiguousarray(vectors[start : start + _CHUNK], dtype=np.float32)
            store.add(np.ascontiguousarray(ids[start : start + _CHUNK]), chunk)
        return store

    def set_search(self, *, nprobe: int, refine: int) -> None:
        """Search-time settings, applied without retraining (0 nprobe: the default)."""
        nlist = self.params.nlist
        nprobe = min(nlist, nprobe or max(1, nlist // 8))
        self.params = dataclasses.replace(self.params, nprobe=nprobe, refine=refine)
        self.ivf.nprobe = nprobe

    # -- the shared interface -------------------------------------------------------------

    def __len__(self) -> int:
        return self.count

    @property
    def tombstones(self) -> int:
        return self.index.ntotal - self.count

    def row_ids(self) -> np.ndarray:
        return self._row_ids[: self.index.ntotal]

    @property
    def float16_rows(self) -> Rows16:
        """The re-ranking rows (read them, for sizes: where they are held)."""
        return self._rows

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        return self._map.rows(ids, self._row_ids[: self.index.ntotal])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.own()
        self.remove(ids)
        base, need = self.index.ntotal, self.index.ntotal + len(ids)
        if need > len(self._row_ids):
            grown = np.full(max(need, 2 * len(self._row_ids), 1024), -1, dtype=np.int64)
            grown[:base] = self._row_ids[:base]
            self._row_ids = grown
        rows = np.arange(base, need, dtype=np.int64)
        self.index.add_with_ids(vectors, rows)  # encoded with the trained codebooks
        self._rows.append(vectors.astype(np.float16))
        self._row_ids[base:need] = ids
        self.count += len(ids)
        self._map.put(ids, rows, self._row_ids[:need])

    def remove(self, ids: np.ndarray) -> int:
        rows = self.rows_of(ids)
        rows = rows[rows >= 0]
        self._row_ids[rows] = -1
        self.count -= len(rows)
        return len(rows)

    def _rows16(self, rows: np.ndarray) -> np.ndarray:
        """float16 vectors of rows (any shape, all >= 0), shape rows.shape + (d,)."""
        return self._rows.gather(rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.count:
            return pad(len(queries), k)
        parts = [self._search(queries[s : s + 256], k) for s in range(0, len(queries), 256)]
        return np.concatenate([s for s, _ in parts]), np.concatenate([i for _, i in parts])

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq, n = len(queries), self.index.ntotal
        short = max(k, self.params.refine)  # candidates re-scored per query
        fetch = min(n, short + min(self.tombstones, max(short, 32)))
        scores, ids = pad(nq, k)
        todo = np.arange(nq)
        while len(todo):
            pq_scores, rows = self.index.search(queries[todo], fetch)  # (t, fetch) each
            found = np.where(rows >= 0, self._row_ids[np.maximum(rows, 0)], -1)
            live = found >= 0  # (t, fetch)
            order = np.argsort(~live, axis=1, kind="stable")[:, :short]  # live first
            cand = np.take_along_axis(np.where(live, rows, -1), order, axis=1)  # (t, s)
            if self.params.refine:
                v = self._rows16(np.maximum(cand, 0)).astype(np.float32)  # (t, s, d)
                exact = np.einsum("tsd,td->ts", v, queries[todo])  # (t, s)
            else:
                exact = np.take_along_axis(pq_scores, order, axis=1)
            exact = np.where(cand >= 0, exact, -np.inf)
            best = np.argsort(-exact, axis=1, kind="stable")[:, :k]  # (t, <=k)
            got_rows = np.take_along_axis(cand, best, axis=1)
            width = got_rows.shape[1]
            ids[todo, :width] = np.where(got_rows >= 0, self._row_ids[np.maximum(got_rows, 0)], -1)
            scores[todo, :width] = np.take_along_axis(exact, best, axis=1)
            lacking = live.sum(axis=1) < min(k, self.count)
            if fetch >= n or not lacking.any():
                break
            todo, fetch = todo[lacking], min(n, fetch * 4)
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._rows16(self.rows_of(ids)).astype(np.float32)  # (m, d)

    def live_items(self) -> tuple[np.ndarray, np.ndarray]:
        """Live ids (n,) and their float16 vectors (n, d) (float16: 2 bytes per value, as
        stored; consumers convert in chunks)."""
        rows = np.flatnonzero(self.row_ids() >= 0)
        return self._row_ids[rows], self._rows16(rows)

    def compact(self) -> None:
        """Drops the tombstones from the lists and the float16 rows, renumbering the live
        rows; the codebooks and codes are kept (nothing is re-encoded or retrained)."""
        self.own()
        faiss = faiss_module()
        n = self.index.ntotal
        row_ids = self._row_ids[:n]
        live = np.flatnonzero(row_ids >= 0)
        dead = np.flatnonzero(row_ids < 0)
        if len(dead):
            self.index.remove_ids(dead)  # through an OPQ wrapper too: it keeps a count
        renumber = np.full(n, -1, dtype=np.int64)
        renumber[live] = np.arange(len(live))
        lists = self.ivf.invlists
        for i in range(self.ivf.nlist):
            size = lists.list_size(i)
            if size:
                view = faiss.rev_swig_ptr(lists.get_ids(i), size)  # (size,), in place
                view[:] = renumber[view]
        old, new = self._rows, Rows16(self.dim, spill_dir=self.spill_dir)
        for start in range(0, len(live), _CHUNK):
            new.append(old.gather(live[start : start + _CHUNK]))
        self._rows = new  # the old rows (and scratch file) go with their last reader
        self._row_ids = row_ids[live].copy()
        self._map = _RowMap(self._row_ids)

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path, reuse: Path | None) -> list[str]:
        """Writes ``index.faiss`` and ``vectors16.npy`` (+ ``vectors16.tail.npy``) into a
        save in progress. The mapped base is hard-linked from ``reuse`` when that file is
        the very file mapped (same inode: files are only ever replaced, never written in
        place), and only the rows after it are written; otherwise every row is. The files
        written become the mapped rows (freeing the in-memory tail and the scratch file: a
        streaming build holds its float16 rows outside files only until a save)."""
        faiss = faiss_module()
        faiss.write_index(self.index, str(directory / "index.faiss"))
        fsync_file(directory / "index.faiss")
        rows = self._rows
        files = ["index.faiss", "vectors16.npy"]
        if not self._link_base(rows, reuse, directory / "vectors16.npy"):
            rows.write(directory / "vectors16.npy")
        elif len(rows) > rows.base_rows:
            rows.write(directory / "vectors16.tail.npy", skip_base=True)
            files.append("vectors16.tail.npy")
        self._rows = Rows16.mapped([directory / f for f in files[1:]], self.dim,
                                   spill_dir=self.spill_dir)  # fmt: skip
        return files

    def _link_base(self, rows: Rows16, reuse: Path | None, target: Path) -> bool:
        """Hard-links ``reuse``'s vectors16.npy to ``target`` if it is the mapped base and
        the rows after it stay under :data:`~kgagent._io.MAX_TAIL` of it."""
        old = reuse / "vectors16.npy" if reuse is not None else None
        base = rows.base_rows
        if (
            old is None
            or not base
            or len(rows) - base > MAX_TAIL * base
            or not old.is_file()
            or _inode_of(old) != rows.base_inode
        ):
            return False
        try:
            os.link(old, target)
        except OSError:
            return False
        return True

    @classmethod
    def open(
        cls,
        directory: Path,
        dim: int,
        params: PQParams,
        row_ids: np.ndarray,
        *,
        index: Any,
        source: BinaryIO | None,
        trained_on: int = 0,
        train_seconds: float = 0.0,
        spill_dir: str | Path | None = None,
    ) -> IVFPQ:
        """The store saved in ``directory``, around ``index`` (already read, mapped).

        Raises:
            ValueError: the float16 rows do not match the index (names the file).
        """
        path = directory / "vectors16.npy"
        tail_path = directory / "vectors16.tail.npy"
        paths = [path, tail_path] if tail_path.is_file() else [path]
        rows = Rows16.mapped(paths, dim, spill_dir=spill_dir)  # checks dtype and shape
        if len(rows) != index.ntotal:
            rows.close()
            raise ValueError(f"{path}: {len(rows)} float16 rows for {index.ntotal} coded vectors")
        return cls(dim, params, index, row_ids=row_ids, rows16=rows, source=source,
                   trained_on=trained_on, train_seconds=train_seconds,
                   spill_dir=spill_dir)  # fmt: skip

    def close(self) -> None:
        """Frees the float16 rows' scratch file and handles; the store is unusable after."""
        self._rows.close()


def _inode_of(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino
